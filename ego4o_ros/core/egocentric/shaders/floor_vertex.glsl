// The floor: a disc around each frame's camera at the floor's height, one instance per frame.
uniform float floor_y;
in vec2 in_xz;  // offset from the camera, metres
out vec2 v_xz;
void main() {
    int f = frame0 + gl_InstanceID;
    vec3 cam = texelFetch(cameras, ivec2(4, f), 0).xyz;
    v_xz = cam.xz + in_xz;  // the disc follows the camera; the pattern stays in the world
    gl_Position = project(vec3(v_xz.x, floor_y, v_xz.y), gl_InstanceID);
}
