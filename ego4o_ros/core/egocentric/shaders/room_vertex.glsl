// Walls, ceiling and boxes: one static mesh in world coordinates, one instance per frame.
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in float in_material;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_color;
flat out float v_material;
void main() {
    v_pos = in_pos;
    v_normal = in_normal;
    v_color = in_color;
    v_material = in_material;
    gl_Position = project(in_pos, gl_InstanceID);
}
