// Vertex-stage library, after `#version 330`, `#define NUM_SEGMENTS n` and (fisheye)
// `#define FISHEYE`: a world point -> its clip position in this frame's tile of the atlas.
uniform sampler2D cameras;  // per frame (row): texels 0-3 the view matrix's columns, texel 4 the position
uniform int frame0;         // first frame of this batch (a row of the textures)
uniform int tiles_x;
uniform vec2 tile_scale;    // one tile's size in the atlas's NDC
uniform float near_m, far_m, focal, aspect, cos_theta_max;

out float gl_ClipDistance[5];

mat4 view_of(int f) {
    return mat4(texelFetch(cameras, ivec2(0, f), 0), texelFetch(cameras, ivec2(1, f), 0),
                texelFetch(cameras, ivec2(2, f), 0), texelFetch(cameras, ivec2(3, f), 0));
}

// World point -> clip position inside this frame's tile of the atlas.
vec4 project(vec3 world, int tile) {
    vec3 p = (view_of(frame0 + tile) * vec4(world, 1.0)).xyz;  // camera looks along -z
#ifdef FISHEYE
    // Equidistant fisheye: image radius proportional to the angle from the optical axis
    // (focal = 1 / half-fov in radians). w = 1, so depth is the distance, kept linear.
    float d = max(length(p), 1e-9);
    float cos_theta = clamp(-p.z / d, -1.0, 1.0);
    vec2 ndc = p.xy / max(length(p.xy), 1e-9) * acos(cos_theta) * focal;
    vec4 clip = vec4(ndc.x, ndc.y * aspect, 2.0 * (d - near_m) / (far_m - near_m) - 1.0, 1.0);
    // Far off-axis (behind the camera) the mapping folds over: drop that part of every triangle.
    gl_ClipDistance[4] = cos_theta - cos_theta_max;
#else
    vec4 clip = vec4(p.x * focal, p.y * focal * aspect,
                     (-(far_m + near_m) * p.z - 2.0 * far_m * near_m) / (far_m - near_m), -p.z);
    gl_ClipDistance[4] = 1.0;
#endif
    // Keep each frame inside its own tile: clip against the tile's edges, then move it there.
    gl_ClipDistance[0] = clip.w + clip.x;
    gl_ClipDistance[1] = clip.w - clip.x;
    gl_ClipDistance[2] = clip.w + clip.y;
    gl_ClipDistance[3] = clip.w - clip.y;
    vec2 centre = vec2(-1.0 + tile_scale.x * (float(tile % tiles_x) + 0.5),
                       1.0 - tile_scale.y * (float(tile / tiles_x) + 0.5));  // tile rows from the top
    clip.xy = clip.xy * 0.5 * tile_scale + centre * clip.w;
    return clip;
}
