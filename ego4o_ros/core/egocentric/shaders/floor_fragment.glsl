// The floor's pattern (checker, tiles, planks) in world coordinates, filtered, shaded.
uniform int pattern;  // 0 checker, 1 tiles with grout, 2 planks
uniform vec3 floor_a, floor_b;
uniform float tile_m, angle;
in vec2 v_xz;
out vec4 f_color;

float hash(vec2 p) { return fract(sin(dot(p, vec2(127.1, 311.7))) * 43758.5453); }

void main() {
    mat2 rot = mat2(cos(angle), sin(angle), -sin(angle), cos(angle));
    vec2 uv = rot * v_xz / tile_m;
    vec2 w = max(fwidth(uv), vec2(1e-4));  // one pixel's footprint in tiles: for filtering
    vec3 albedo;
    vec3 mean;
    if (pattern == 0) {
        // Box-filtered checker (the integral of the square wave over the pixel): no moire far away.
        vec2 i = 2.0 * (abs(fract((uv - 0.5 * w) * 0.5) - 0.5) - abs(fract((uv + 0.5 * w) * 0.5) - 0.5)) / w;
        albedo = mix(floor_a, floor_b, 0.5 - 0.5 * i.x * i.y);
        mean = 0.5 * (floor_a + floor_b);
    } else {
        vec2 cell = uv;
        if (pattern == 2) {
            cell = vec2(uv.x * 4.0, uv.y);  // planks: 4 per tile across, one tile long, staggered rows
            cell.y += hash(vec2(floor(cell.x), 7.0));
        }
        vec2 f = fract(cell);
        vec2 width = (pattern == 2 ? vec2(0.06, 0.015) : vec2(0.03)) ;
        vec2 pix = max(fwidth(cell), vec2(1e-4));
        vec2 edge = smoothstep(width - pix, width + pix, min(f, 1.0 - f));
        vec3 body = floor_a * (0.85 + 0.3 * hash(floor(cell)));
        albedo = mix(floor_b, body, edge.x * edge.y);
        mean = mix(floor_b, floor_a, 0.85);
    }
    // Past about a pixel per tile the pattern is only noise at this resolution: fade to its mean.
    albedo = mix(albedo, mean, smoothstep(0.35, 0.9, max(w.x, w.y)));
    f_color = vec4(shade(albedo, vec3(0.0, 1.0, 0.0)), 1.0);
}
