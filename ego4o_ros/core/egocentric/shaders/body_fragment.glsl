// The body: its capsules' colour, shaded.
in vec3 v_normal;
in vec3 v_color;
out vec4 f_color;
void main() { f_color = vec4(shade(v_color, v_normal), 1.0); }
