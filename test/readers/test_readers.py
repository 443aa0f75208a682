"""Readers of SMPL-parameter data (AMASS, DIP-IMU), the SMPL template and HumanML3D."""

import os
import pickle

import numpy as np
import pytest
from conftest import HUMANML3D_SAMPLE, skip_without_shared

from ego4o_ros.core import body, frames, imu, rotations
from ego4o_ros.readers.amass import BODY_FROM_AMASS, read_amass
from ego4o_ros.readers.dip import DIP_SENSOR_FOR_SITE, read_dip, safe_load_pickle
from ego4o_ros.readers.humanml3d import read_humanml3d_joints, read_humanml3d_texts
from ego4o_ros.readers.smpl_model import SmplJointTemplate

STANDING_ROOT = np.array([np.pi / 2, 0.0, 0.0])  # AMASS root orientation of an upright body
SMPL24_PARENTS = body.PARENTS + (20, 21)


def cumulative(offsets):
    """Joint positions of the T-pose relative to the pelvis, (22, 3)."""
    out = np.zeros((22, 3))
    for j, p in enumerate(body.PARENTS):
        if p >= 0:
            out[j] = out[p] + offsets[j]
    return out


def write_amass(path, poses, trans, fps=120.0, rate_key="mocap_framerate", **extra):
    np.savez(
        path,
        poses=poses,
        trans=trans,
        betas=np.zeros(16),
        gender=np.array("neutral"),
        **{rate_key: np.array(fps)},
        **extra,
    )
    return path


def amass_poses(frames_count, width=156, root=STANDING_ROOT):
    poses = np.zeros((frames_count, width))
    poses[:, :3] = root
    return poses


def test_amass_body_frame_rotation_is_proper_and_sends_up_to_up():
    assert np.isclose(np.linalg.det(BODY_FROM_AMASS), 1.0)
    np.testing.assert_allclose(BODY_FROM_AMASS @ [0, 0, 1.0], [0, 1.0, 0], atol=1e-12)


def test_amass_standing_tpose_is_the_template_in_the_body_frame(tmp_path):
    trans = np.tile([0.5, -1.0, 0.9], (4, 1))
    clip = read_amass(write_amass(tmp_path / "walk_poses.npz", amass_poses(4), trans))
    template = SmplJointTemplate.builtin()
    pelvis = BODY_FROM_AMASS @ (trans[0] + template.pelvis_rest)
    expected = pelvis + cumulative(template.offsets)
    np.testing.assert_allclose(clip.joints, np.broadcast_to(expected, (4, 22, 3)), atol=1e-12)
    np.testing.assert_allclose(clip.global_rotations, np.broadcast_to(np.eye(3), (4, 22, 3, 3)), atol=1e-12)
    j = {name: i for i, name in enumerate(body.JOINT_NAMES)}
    rel = clip.joints[0] - clip.joints[0, 0]
    assert rel[j["head"], 1] > 0.4  # head above the pelvis
    assert rel[j["left_hip"], 0] > 0 > rel[j["right_hip"], 0]  # +X is the body's left
    assert rel[j["left_wrist"], 0] > 0.5  # arms out sideways
    np.testing.assert_allclose(frames.facing_directions(clip.joints[0]), [0, 0, 1], atol=0.1)
    assert (clip.name, clip.take, clip.fps) == ("walk_poses", "walk_poses", 120.0)


def test_amass_zero_pose_lies_along_amass_forward(tmp_path):
    clip = read_amass(write_amass(tmp_path / "a.npz", amass_poses(2, root=np.zeros(3)), np.zeros((2, 3))))
    rel = clip.joints[0] - clip.joints[0, 0]
    expected = cumulative(SmplJointTemplate.builtin().offsets) @ BODY_FROM_AMASS.T
    np.testing.assert_allclose(rel, expected, atol=1e-12)
    assert rel[15, 2] < -0.4  # SMPL's up (+Y in AMASS) is -Z in the body frame


def test_amass_elbow_bend_moves_the_wrist_forward(tmp_path):
    poses = amass_poses(1)
    poses[0, 18 * 3 : 19 * 3] = [0.0, -np.pi / 2, 0.0]  # left elbow, about -Y
    clip = read_amass(write_amass(tmp_path / "bend.npz", poses, np.zeros((1, 3))))
    offsets = SmplJointTemplate.builtin().offsets
    bend = rotations.axis_rotation("Y", -np.pi / 2)
    elbow, wrist = clip.joints[0, 18], clip.joints[0, 20]
    np.testing.assert_allclose(elbow - clip.joints[0, 0], cumulative(offsets)[18], atol=1e-12)
    np.testing.assert_allclose(wrist - elbow, bend @ offsets[20], atol=1e-12)
    assert wrist[2] - elbow[2] > 0.25  # forearm now points forward (+Z)
    np.testing.assert_allclose(clip.global_rotations[0, 18], bend, atol=1e-12)
    np.testing.assert_allclose(clip.global_rotations[0, 20], bend, atol=1e-12)


@pytest.mark.parametrize("width", [72, 156, 165])
def test_amass_frame_rate_key_variants_and_resampling(tmp_path, width):
    path = write_amass(tmp_path / "x.npz", amass_poses(121, width), np.zeros((121, 3)), rate_key="mocap_frame_rate")
    assert read_amass(path).num_frames == 121
    clip = read_amass(path, target_fps=30)
    assert clip.num_frames == 31 and clip.fps == 30.0
    assert clip.global_rotations.shape == (31, 22, 3, 3)


def test_amass_errors_name_the_file(tmp_path):
    np.savez(tmp_path / "notrans.npz", poses=np.zeros((3, 156)), mocap_framerate=60.0)
    with pytest.raises(KeyError, match="notrans.npz.*'trans'"):
        read_amass(tmp_path / "notrans.npz")
    np.savez(tmp_path / "norate.npz", poses=np.zeros((3, 156)), trans=np.zeros((3, 3)))
    with pytest.raises(KeyError, match="norate.npz.*frame rate"):
        read_amass(tmp_path / "norate.npz")
    bad = write_amass(tmp_path / "narrow.npz", np.zeros((3, 60)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="narrow.npz.*poses"):
        read_amass(bad)


# ------------------------------------------------------------------ SMPL model file
def fake_model(path, rng, num_vertices=40, num_betas=4, parents=SMPL24_PARENTS, **override):
    kintree = np.array([[4294967295] + list(parents[1:]), list(range(len(parents)))], dtype=np.int64)
    regressor = rng.random((len(parents), num_vertices))
    arrays = dict(
        v_template=rng.normal(size=(num_vertices, 3)),
        shapedirs=0.1 * rng.normal(size=(num_vertices, 3, num_betas)),
        J_regressor=regressor / regressor.sum(1, keepdims=True),
        kintree_table=kintree,
        posedirs=np.zeros((num_vertices, 3, 9)),
    )
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


def test_template_from_model_file_matches_hand_computation(tmp_path):
    model = fake_model(tmp_path / "model.npz", np.random.default_rng(1))
    betas = np.array([0.5, -1.0, 2.0, 0.3, 9.0, 9.0])  # longer than the model's 4: cut
    template = SmplJointTemplate.from_model_file(tmp_path / "model.npz", betas)
    vertices = model["v_template"].copy()
    for b in range(4):
        vertices += betas[b] * model["shapedirs"][:, :, b]
    joints = model["J_regressor"] @ vertices
    for j, p in enumerate(body.PARENTS):
        expected = np.zeros(3) if p < 0 else joints[j] - joints[p]
        np.testing.assert_allclose(template.offsets[j], expected, atol=1e-12)
    np.testing.assert_allclose(template.pelvis_rest, joints[0], atol=1e-12)

    # read_amass with a model path shapes the skeleton with the file's betas.
    np.savez(tmp_path / "take.npz", poses=amass_poses(2), trans=np.ones((2, 3)), betas=betas[:4], mocap_framerate=60.0)
    clip = read_amass(tmp_path / "take.npz", template=tmp_path / "model.npz")
    expected = BODY_FROM_AMASS @ (np.ones(3) + joints[0]) + cumulative(template.offsets)
    np.testing.assert_allclose(clip.joints[1], expected, atol=1e-12)


def test_template_rejects_bad_model_files(tmp_path):
    rng = np.random.default_rng(2)
    wrong = list(SMPL24_PARENTS)
    wrong[18] = 17
    fake_model(tmp_path / "wrong_tree.npz", rng, parents=tuple(wrong))
    with pytest.raises(ValueError, match="wrong_tree.npz.*parents"):
        SmplJointTemplate.from_model_file(tmp_path / "wrong_tree.npz")
    fake_model(
        tmp_path / "sparse.npz", rng, J_regressor=np.array(object(), dtype=object)
    )  # like a pickled sparse matrix
    with pytest.raises(ValueError, match="sparse.npz.*J_regressor"):
        SmplJointTemplate.from_model_file(tmp_path / "sparse.npz")
    np.savez(tmp_path / "partial.npz", v_template=np.zeros((5, 3)))
    with pytest.raises(KeyError, match="partial.npz.*shapedirs"):
        SmplJointTemplate.from_model_file(tmp_path / "partial.npz")


def test_template_refuses_pkl_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(Evil(marker)))
    with pytest.raises(ValueError, match=r"pkl.*\.npz"):
        SmplJointTemplate.from_model_file(tmp_path / "SMPL_NEUTRAL.pkl")
    assert not marker.exists()


# ------------------------------------------------------------------ DIP-IMU
class Evil:
    """Would create ``marker`` through os.system if it were ever unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def dip_data(frames_count=6, seed=3):
    rng = np.random.default_rng(seed)
    gt = np.zeros((frames_count, 72))
    gt[:, 18 * 3 + 1] = -np.pi / 2  # left elbow bent forward
    return {
        "gt": gt,
        "imu_acc": rng.normal(size=(frames_count, 17, 3)),
        "imu_ori": rotations.axis_angle_to_matrix(rng.normal(size=(frames_count, 17, 3))),
        "sop": np.zeros((frames_count, 72)),
        "sip": np.zeros((frames_count, 72)),
    }


def test_dip_pickle_reads_back_with_sites_mapped(tmp_path):
    data = dip_data()
    (tmp_path / "s_03").mkdir()
    path = tmp_path / "s_03" / "05.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    clip = read_dip(path)
    assert (clip.name, clip.take, clip.fps, clip.num_frames) == ("s_03/05", "s_03/05", 60.0, 6)
    for k, site in enumerate(imu.IMU_SITES):
        np.testing.assert_array_equal(clip.imu_acc[:, k], data["imu_acc"][:, DIP_SENSOR_FOR_SITE[site]])
        np.testing.assert_array_equal(clip.imu_ori[:, k], data["imu_ori"][:, DIP_SENSOR_FOR_SITE[site]])
    assert DIP_SENSOR_FOR_SITE == {"left_wrist": 7, "right_wrist": 8, "left_pocket": 9, "right_pocket": 10, "head": 0}
    np.testing.assert_allclose(clip.joints[:, 0], 0.0, atol=1e-12)  # no translation
    offsets = SmplJointTemplate.builtin().offsets
    np.testing.assert_allclose(
        clip.joints[0, 20] - clip.joints[0, 18], rotations.axis_rotation("Y", -np.pi / 2) @ offsets[20], atol=1e-12
    )


def test_dip_python2_style_pickle(tmp_path):
    """Python 2 wrote array bytes as str; the reader decodes them as latin1."""
    from ego4o_ros.readers.dip import _reconstruct

    class Py2StylePickler(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, np.ndarray):
                raw = np.ascontiguousarray(obj).tobytes().decode("latin1")
                return _reconstruct, (np.ndarray, (0,), "b"), (1, obj.shape, obj.dtype, False, raw)
            return NotImplemented

    data = dip_data()
    path = tmp_path / "01.pkl"
    with open(path, "wb") as f:
        Py2StylePickler(f, protocol=2).dump(data)
    assert b"_codecs" not in path.read_bytes()
    clip = read_dip(path)
    np.testing.assert_array_equal(clip.imu_acc[:, 4], data["imu_acc"][:, 0])


def test_dip_nan_samples_are_interpolated(tmp_path):
    data = dip_data(frames_count=8)
    data["imu_acc"][2:4, 7, 1] = np.nan  # left wrist, y, two frames
    data["imu_acc"][0, 0, :] = np.nan  # head, first frame: held from frame 1
    data["imu_ori"][5, 9] = np.nan  # left pocket, one frame
    data["imu_acc"][:, 13] = np.nan  # an unused sensor: ignored
    (tmp_path / "nan.pkl").write_bytes(pickle.dumps(data, protocol=2))
    with pytest.warns(UserWarning, match="filled 5 acceleration and 9 orientation"):
        clip = read_dip(tmp_path / "nan.pkl")
    y = data["imu_acc"][:, 7, 1]
    np.testing.assert_allclose(clip.imu_acc[2:4, 0, 1], y[1] + (y[4] - y[1]) * np.array([1, 2]) / 3)
    np.testing.assert_allclose(clip.imu_acc[0, 4], data["imu_acc"][1, 0])
    filled = clip.imu_ori[5, 2]
    np.testing.assert_allclose(filled @ filled.T, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(filled), 1.0)
    np.testing.assert_allclose(clip.imu_ori[4, 2], data["imu_ori"][4, 9], atol=1e-9)


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_dip_malicious_pickle_is_refused_and_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = dip_data()
    data["payload"] = Evil(marker)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(data, protocol=protocol))
    with pytest.raises(pickle.UnpicklingError, match="evil.pkl.*system"):
        read_dip(tmp_path / "evil.pkl")
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        safe_load_pickle(pickle.dumps(print, protocol=protocol))


def test_dip_missing_key_and_bad_shape(tmp_path):
    data = dip_data()
    del data["imu_ori"]
    (tmp_path / "a.pkl").write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(KeyError, match="a.pkl.*imu_ori"):
        read_dip(tmp_path / "a.pkl")
    data = dip_data()
    data["imu_acc"] = data["imu_acc"][:, :6]
    (tmp_path / "b.pkl").write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(ValueError, match="b.pkl.*imu_acc"):
        read_dip(tmp_path / "b.pkl")


# ------------------------------------------------------------------ HumanML3D
@pytest.mark.shared_data
def test_humanml3d_sample_reads(tmp_path):
    skip_without_shared(HUMANML3D_SAMPLE)
    texts = tmp_path / "012314.txt"
    texts.write_text(
        "a person walks forward.#a/DET person/NOUN walk/VERB#0.0#0.0\n"
        "someone strolls ahead#someone/PRON stroll/VERB#1.5#4.0\n\n"
    )
    assert read_humanml3d_texts(texts) == ["a person walks forward.", "someone strolls ahead"]
    clip = read_humanml3d_joints(HUMANML3D_SAMPLE / "012314_new_joints.npy", texts_path=texts)
    assert clip.joints.shape == (170, 22, 3) and clip.fps == 20.0
    assert clip.global_rotations is None and clip.imu_acc is None
    assert clip.descriptions == ["a person walks forward.", "someone strolls ahead"]
    np.testing.assert_allclose(clip.joints[0, 0, [0, 2]], 0.0, atol=1e-6)
    np.testing.assert_allclose(body.bone_lengths(clip.joints).mean(0), body.TEMPLATE_BONE_LENGTHS, atol=2e-3)
    assert clip.joints[:, 15, 1].mean() > clip.joints[:, 0, 1].mean()  # Y up


def test_humanml3d_mirror_shares_take_and_bad_shape_errors(tmp_path):
    np.save(tmp_path / "M000042.npy", np.zeros((3, 22, 3), np.float32))
    clip = read_humanml3d_joints(tmp_path / "M000042.npy")
    assert (clip.name, clip.take, clip.descriptions) == ("M000042", "000042", [])
    np.save(tmp_path / "bad.npy", np.zeros((3, 21, 3)))
    with pytest.raises(ValueError, match="bad.npy"):
        read_humanml3d_joints(tmp_path / "bad.npy")
