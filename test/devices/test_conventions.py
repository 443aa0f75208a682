"""Device conventions -> the sensor_msgs/Imu standard, checked against physical facts,
and config/devices.yaml read with one-line errors."""

import numpy as np
import pytest

from ego4o_ros.core import rotations
from ego4o_ros.core.imu import GRAVITY
from ego4o_ros.devices import DeviceConvention, DevicesFileError, from_ros, load_profile, to_ros
from ego4o_ros.devices.config import _conventions, default_devices_file
from ego4o_ros.devices.conventions import ENU_FROM_NWU, axes_matrix
from ego4o_ros.live.sensors import ImuConvention, to_body_frame

COREMOTION = DeviceConvention(acc_unit="g", acc_sign=-1.0, gravity_included=False, world_frame="nwu")


def test_a_still_iphone_flat_on_a_table_reads_plus_g_up_in_enu():
    # CoreMotion: userAcceleration zero, attitude identity = screen up, x (right edge) to true north.
    acc, quat = to_ros([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], COREMOTION)
    np.testing.assert_allclose(acc, [0, 0, GRAVITY], atol=1e-9)
    world_from_sensor = rotations.xyzw_to_matrix(quat)
    np.testing.assert_allclose(world_from_sensor @ [1, 0, 0], [0, 1, 0], atol=1e-9)  # x points north
    np.testing.assert_allclose(world_from_sensor, ENU_FROM_NWU, atol=1e-9)
    # and the fusion node's default convention makes that a still sensor in its world: +9.81 up
    acc_body, _ = to_body_frame(acc, quat, ImuConvention())
    np.testing.assert_allclose(acc_body, [0, GRAVITY, 0], atol=1e-9)


def test_ios_inertial_sign_is_flipped_to_specific_force():
    # pushed towards its right edge at 1 m/s^2, iOS's userAcceleration reads -1/g on x
    acc, _ = to_ros([-1.0 / GRAVITY, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], COREMOTION)
    np.testing.assert_allclose(acc, [1.0, 0.0, GRAVITY], atol=1e-9)


def test_quaternion_order_and_direction():
    q = rotations.matrix_to_xyzw(rotations.axis_rotation("Z", 0.7))
    wxyz = np.r_[q[3], q[:3]]
    _, a = to_ros([0, 0, 1], q, DeviceConvention())
    _, b = to_ros([0, 0, 1], wxyz, DeviceConvention(quaternion_order="wxyz"))
    _, c = to_ros([0, 0, 1], q * [-1, -1, -1, 1], DeviceConvention(quaternion="device_from_world"))
    np.testing.assert_allclose(a, b, atol=1e-9)
    np.testing.assert_allclose(a, c, atol=1e-9)


def test_earbud_remap_is_the_imuposer_receivers():
    earbuds = DeviceConvention(sensor_axes=("-x", "z", "y"), world_axes=("-x", "z", "y"))
    acc, quat = to_ros([1.0, 2.0, 3.0], [0, 0, 0, 1], earbuds)
    np.testing.assert_allclose(acc, [-1.0, 3.0, 2.0])  # their [-ax, az, ay]
    R = rotations.axis_rotation("X", 0.3) @ rotations.axis_rotation("Y", -0.2)
    _, quat = to_ros([0, 0, 1], rotations.matrix_to_xyzw(R), earbuds)
    M = axes_matrix(["-x", "z", "y"])
    np.testing.assert_allclose(rotations.xyzw_to_matrix(quat), M @ R @ M.T, atol=1e-9)


def test_mirrors_and_unknown_axes_are_refused():
    with pytest.raises(ValueError, match="mirror"):
        DeviceConvention(sensor_axes=("y", "x", "z"))
    with pytest.raises(ValueError, match="not x, y or z"):
        DeviceConvention(world_axes=("x", "w", "z"))
    with pytest.raises(ValueError, match="acc_unit"):
        DeviceConvention(acc_unit="mg")


def test_every_shipped_convention_round_trips():
    import yaml

    conventions = _conventions(
        default_devices_file(), yaml.safe_load(default_devices_file().read_text())["conventions"]
    )
    rng = np.random.default_rng(0)
    acc = rng.normal(0, 5, (50, 3))
    quat = rotations.matrix_to_xyzw(rotations.axis_angle_to_matrix(rng.normal(0, 1.5, (50, 3))))
    for name, convention in conventions.items():
        back_acc, back_quat = to_ros(*from_ros(acc, quat, convention), convention)
        np.testing.assert_allclose(back_acc, acc, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(np.abs((back_quat * quat).sum(-1)), 1.0, atol=1e-9, err_msg=name)


def test_the_shipped_profiles_wear_the_default_trio():
    for name in ("imuposer", "sensor_logger"):
        profile = load_profile(None, name)
        assert {d.site for d in profile.devices} == {"left_wrist", "right_pocket", "head"}
    assert load_profile(None, "imuposer").device_for("left;headphone").name == "airpods"
    assert load_profile(None, "sensor_logger").device_for("ABC-123/watch").name == "apple_watch"
    assert load_profile(None, "sensor_logger").device_for("ABC-123/car") is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("profiles: {}", "no profile 'p'"),
        ("conventions: {c: {acc_unit: g, colour: red}}\nprofiles: {p: {format: imuposer}}", "unknown field 'colour'"),
        ("conventions: {c: {like: d}, d: {like: c}}\nprofiles: {p: {format: imuposer}}", "circular"),
        ("profiles: {p: {format: carrier_pigeon}}", "'format' must be one of"),
        (
            "conventions: {c: {}}\nprofiles: {p: {format: imuposer, devices: [{name: a, key: k, site: ear, "
            "convention: c}]}}",
            "unknown site 'ear'",
        ),
        (
            "conventions: {c: {}}\nprofiles: {p: {format: imuposer, devices: [{name: a, key: k, site: head, "
            "convention: c}, {name: b, key: j, site: head, convention: c}]}}",
            "worn twice",
        ),
        (
            "conventions: {c: {}}\nprofiles: {p: {format: imuposer, devices: [{name: a, key: k, site: head, "
            "convention: e}]}}",
            "convention 'e' is not defined",
        ),
        (
            "conventions: {c: {}}\nprofiles: {p: {format: imuposer, devices: [{name: a, site: head, convention: c}]}}",
            "missing 'key'",
        ),
    ],
)
def test_devices_file_mistakes_are_one_line(tmp_path, text, message):
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(DevicesFileError, match=message) as error:
        load_profile(path, "p")
    assert "\n" not in str(error.value) and str(path) in str(error.value)
