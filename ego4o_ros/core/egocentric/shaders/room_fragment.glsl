// Walls (baseboard, rail, panel seams) and plain surfaces, shaded.
uniform float floor_y;
uniform vec3 trim_color;
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_color;
flat in float v_material;
out vec4 f_color;
void main() {
    vec3 albedo = v_color;
    if (v_material > 0.5) {
        // Walls: a baseboard, a rail at hip height and vertical panel seams, so turning is visible.
        float h = v_pos.y - floor_y;
        float along = v_pos.x + v_pos.z;  // walls are axis aligned: one of the two varies
        float seam = abs(fract(along / 1.2 + 0.5) - 0.5) * 1.2;  // metres to the nearest seam
        if (h < 0.12 || abs(h - 0.95) < 0.025) albedo = trim_color;
        else if (seam < 0.02) albedo *= 0.75;
    }
    f_color = vec4(shade(albedo, v_normal), 1.0);
}
