// The body: one instance per (frame, capsule), a unit capsule stretched between two joints.
uniform sampler2D joints;   // per frame (row): 22 joint positions
uniform ivec3 seg_joints[NUM_SEGMENTS];  // a, b, reference
uniform vec3 seg_shape[NUM_SEGMENTS];    // radius at a, radius at b, extension past b
uniform vec3 seg_color[NUM_SEGMENTS];

in vec4 in_vert;  // direction in the capsule frame (xyz, z along the axis), end (w: 0 at a, 1 at b)
out vec3 v_normal;
out vec3 v_color;

vec3 joint(int f, int j) { return texelFetch(joints, ivec2(j, f), 0).xyz; }

void main() {
    int tile = gl_InstanceID / NUM_SEGMENTS;
    int s = gl_InstanceID % NUM_SEGMENTS;
    int f = frame0 + tile;
    ivec3 jj = seg_joints[s];
    vec3 shape = seg_shape[s];
    vec3 a = joint(f, jj.x);
    vec3 b = joint(f, jj.y);
    if (shape.z > 0.0) b += shape.z * normalize(b - joint(f, jj.z));
    vec3 axis = b - a;
    float len = length(axis);
    vec3 z = len > 1e-6 ? axis / len : vec3(0.0, 1.0, 0.0);
    vec3 x = normalize(cross(abs(z.y) < 0.9 ? vec3(0.0, 1.0, 0.0) : vec3(1.0, 0.0, 0.0), z));
    vec3 y = cross(z, x);
    vec3 dir = x * in_vert.x + y * in_vert.y + z * in_vert.z;
    vec3 world = mix(a, b, in_vert.w) + mix(shape.x, shape.y, in_vert.w) * dir;
    v_normal = dir;
    v_color = seg_color[s];
    gl_Position = project(world, tile);
}
