// Fragment-stage library, after `#version 330`: the one directional light.
uniform vec3 light_dir;
uniform float ambient;

// Lambert plus an ambient that is a little brighter on surfaces facing up (light from above).
vec3 shade(vec3 albedo, vec3 n) {
    n = normalize(n);
    float sky = 0.85 + 0.15 * n.y;
    return albedo * (ambient * sky + (1.0 - ambient) * max(dot(n, light_dir), 0.0));
}
