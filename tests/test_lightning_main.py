"""End-to-end: the real CLI over two windows of the tiny demo, the rerun that skips them, and the dumps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lightning_main import cli_main
from tests.conftest import tiny_fit_args


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list] = {}
    for events in sorted(log_dir.rglob("events.out.tfevents*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


@pytest.fixture(scope="module")
def two_window_run(tmp_path_factory, tiny_demo_path):
    tmp = tmp_path_factory.mktemp("e2e")
    # 8 generators, windows of 4 -> 2 windows
    args = tiny_fit_args(tmp, tiny_demo_path, "--experiment_info.experiment_id", "e2e")
    result = cli_main(["fit", *args])
    return tmp, args, result


def test_fit_runs_every_window_and_writes_the_layout(two_window_run):
    tmp, _, result = two_window_run
    assert result.completed == [0, 1] and not result.interrupted
    exp = tmp / "experiments_data" / "experiment_e2e"
    for k in (0, 1):
        w = exp / f"window_{k}"
        assert (w / "done").is_file() and (w / "fit_config.yaml").is_file()
        assert len(list((w / "checkpoints").glob("*.ckpt"))) == 1
        assert (w / "predictions_validate_all.npz").is_file()
        assert len(list(w.glob("predictions_validate_epoch=0-step=*.npz"))) == 1
    # step_tracker continues: window 1's value = window 0's + window 1's steps
    s0 = int((exp / "window_0" / "step_tracker").read_text())
    s1 = int((exp / "window_1" / "step_tracker").read_text())
    assert 0 < s0 < s1
    assert (exp / "summary.json").is_file()


def test_npz_keys_and_dtypes(two_window_run):
    tmp, _, _ = two_window_run
    with np.load(tmp / "experiments_data" / "experiment_e2e" / "window_0" / "predictions_validate_all.npz") as f:
        d = {k: f[k] for k in f.files}
    n = 64  # 8 generators x 4 fakes + as many reals
    for key in ("fused_scores", "fused_losses", "crop_scores", "crop_losses"):
        assert d[key].dtype == np.float32 and d[key].shape == (n,)
    for key in (
        "fused_labels",
        "fused_generator_ids",
        "fused_identifiers",
        "identifier",
        "crop_labels",
        "crop_generator_ids",
        "crop_identifiers",
        "crop_to_image_index",
        "pairing",
    ):
        assert d[key].dtype == np.int64 and d[key].shape == (n,), key
    assert d["generator_id_to_name"].dtype.kind == "U" and d["generator_id_to_name"].shape == (9,)
    assert d["generator_id_to_name"][0] == ""
    assert d["windows_timeline"].dtype.kind == "U" and d["windows_timeline"].shape == (2, 4)
    assert np.array_equal(d["identifier"], d["fused_identifiers"])
    assert np.array_equal(d["crop_to_image_index"], np.arange(n))  # resize: one crop per image, global index
    reals = d["fused_labels"] == 0
    assert (d["pairing"][~reals] == -1).all() and (d["pairing"][reals] >= 1).all()
    assert (d["fused_generator_ids"][reals] == 0).all() and (d["fused_generator_ids"][~reals] > 0).all()
    # each generator is paired with as many reals as it has fakes
    assert np.array_equal(
        np.bincount(d["pairing"][reals], minlength=9), np.bincount(d["fused_generator_ids"][~reals], minlength=9)
    )


def test_logged_auroc_equals_sklearn_on_the_dumped_arrays(two_window_run):
    tmp, _, _ = two_window_run
    logs = _scalars(tmp / "experiments_logs")
    exp = tmp / "experiments_data" / "experiment_e2e"
    for k in (0, 1):
        with np.load(exp / f"window_{k}" / "predictions_validate_all.npz") as f:
            d = {key: f[key] for key in f.files}
        timeline = [[g for g in row if g] for row in d["windows_timeline"].tolist()]
        names = d["generator_id_to_name"].tolist()
        nxt = [names.index(g) for g in timeline[min(k + 1, 1)]]
        assigned = np.where(d["fused_generator_ids"] == 0, d["pairing"], d["fused_generator_ids"])
        mask = np.isin(assigned, nxt)
        expected_next = roc_auc_score(d["fused_labels"][mask], d["fused_scores"][mask])
        expected_all = roc_auc_score(d["fused_labels"], d["fused_scores"])
        logged_next = logs["immediate_future_validate_BinaryAUROC_epoch/all"][k][1]
        logged_all = logs["validate_BinaryAUROC_epoch/all"][k][1]
        assert logged_next == pytest.approx(expected_next, abs=1e-6)
        assert logged_all == pytest.approx(expected_all, abs=1e-6)


def test_step_axis_continues_across_windows(two_window_run):
    tmp, _, _ = two_window_run
    logs = _scalars(tmp / "experiments_logs")
    steps = [s for s, _ in logs["validate_BinaryAUROC_epoch/all"]]
    s0 = int((tmp / "experiments_data" / "experiment_e2e" / "window_0" / "step_tracker").read_text())
    assert steps[0] == s0 and steps[1] > steps[0]
    train_steps = [s for s, _ in logs["train_loss_step"]]
    assert train_steps == sorted(train_steps) and len(set(train_steps)) == len(train_steps)


def test_rerun_skips_finished_windows(two_window_run, capsys):
    tmp, args, _ = two_window_run
    exp = tmp / "experiments_data" / "experiment_e2e"
    before = {p: p.stat().st_mtime_ns for p in exp.rglob("*.ckpt")}
    result = cli_main(["fit", *args])
    assert result.skipped == [0, 1] and result.completed == []
    assert {p: p.stat().st_mtime_ns for p in exp.rglob("*.ckpt")} == before
    assert "Mean Next Period AUROC" in capsys.readouterr().out


def test_validate_evaluates_every_finished_window(two_window_run):
    tmp, args, _ = two_window_run
    result = cli_main(["test", *args])
    assert result.completed == [0, 1]
    exp = tmp / "experiments_data" / "experiment_e2e"
    for k in (0, 1):
        assert (exp / f"window_{k}" / "predictions_test_all.npz").is_file()
        assert (exp / f"window_{k}" / "test_config.yaml").is_file()
    # the test dump of a window is the same model as its validate dump: same scores per image
    with (
        np.load(exp / "window_1" / "predictions_validate_all.npz") as v,
        np.load(exp / "window_1" / "predictions_test_all.npz") as t,
    ):
        vs = dict(zip(v["fused_identifiers"].tolist(), v["fused_scores"].tolist(), strict=True))
        ts = dict(zip(t["fused_identifiers"].tolist(), t["fused_scores"].tolist(), strict=True))
    assert vs.keys() == ts.keys()
    assert all(abs(vs[i] - ts[i]) < 1e-5 for i in vs)


def test_cli_errors_are_clear(tmp_path, tiny_demo_path):
    with pytest.raises(SystemExit, match="unknown subcommand 'train'"):
        cli_main(["train"])
    bad = tiny_fit_args(tmp_path, tmp_path / "missing_dataset")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cli_main(["fit", *bad])
    with pytest.raises(ValueError, match="unknown model 'resnet5O'; close matches: resnet50"):
        cli_main(["fit", *tiny_fit_args(tmp_path, tiny_demo_path), "--model.init_args.model_name", "resnet5O_probe"])


def test_list_models_filters(capsys):
    names = cli_main(["list_models", "efficientnet_lite*"])
    assert "efficientnet_lite0" in names and all("efficientnet_lite" in n for n in names)


def test_offline_weights_fail_clearly_and_leave_no_output_folder(tmp_path, tiny_demo_path, monkeypatch):
    from algorithms.models.weights import PretrainedWeightsUnavailable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_cache"))
    args = tiny_fit_args(tmp_path, tiny_demo_path, "--model.init_args.model_name", "resnet18_probe")
    with pytest.raises(PretrainedWeightsUnavailable, match=r"'resnet18'.*pretrained_path"):
        cli_main(["fit", *args])
    assert not (tmp_path / "experiments_data").exists()
