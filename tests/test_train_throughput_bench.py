"""benchmarks/gpu_profile.py (the --profile of train_throughput.py and eval_throughput.py): the
kernel categories and the profile summary (GPU busy share from the union of kernel intervals, shares
of kernel time). train_throughput.py runs end to end on CPU with `--tiny` (about 5 minutes on 2
cores; see benchmarks/RESULTS.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tt = _load("train_throughput")
gp = _load("gpu_profile")


@pytest.mark.parametrize("name, cat", [
    ("ncclDevKernel_ReduceScatter_Sum_bf16_RING_LL", "communication"),
    ("void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<...>", "attention"),
    ("nvjet_tst_128x256_64x4_2x1_v_bz_coopA_TNT", "gemm"),
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "gemm"),
    ("void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedAdamWMathFunctor>", "optimizer"),
    ("triton_per_fused__to_copy_add_mean_mul_pow_rsqrt_0", "element-wise/other"),
    ("Memcpy HtoD (Pageable -> Device)", "copy/memset"),
])
def test_kernel_category(name, cat):
    assert gp.kernel_category(name) == cat


def test_profile_summary_busy_share_and_categories():
    # kernels (name, start us, duration us): gemm 0-400 and 300-500 overlap -> busy 0-500, then
    # attention 600-700 and an element-wise kernel 900-1000: busy 700 us of a 1000 us (0.001 s) wall
    ev = [("nvjet_gemm_a", 0.0, 400.0), ("nvjet_gemm_b", 300.0, 200.0), ("flash_fwd_kernel", 600.0, 100.0),
          ("triton_poi_fused_add_0", 900.0, 100.0)]
    text = gp.profile_summary(ev, 0.001)
    assert "GPU busy 0.001 s = 70.0 %" in text
    assert "kernel time 0.001 s" in text
    lines = text.splitlines()
    assert lines[1].split() == ["gemm", "0.001", "s", "75.0", "%", "of", "kernel", "time"]
    assert [ln.split()[0] for ln in lines[2:4]] == ["attention", "element-wise/other"]
    assert "12.5 %" in lines[2] and "12.5 %" in lines[3]
    assert lines[5].split()[:3] == ["50.0", "%", "gemm"] and lines[5].endswith("nvjet_gemm_a")


def test_kernel_events_leave_out_user_annotations_and_cpu_events():
    from types import SimpleNamespace as NS

    from torch.autograd import DeviceType

    def ev(name, dev, start, dur, annotation=False):
        return NS(name=name, device_type=dev, is_user_annotation=annotation,
                  time_range=NS(start=start, elapsed_us=lambda d=dur: d))

    events = [ev("phase:prefix_prefill", DeviceType.CUDA, 0.0, 900.0, annotation=True),
              ev("nvjet_gemm_a", DeviceType.CUDA, 10.0, 400.0),
              ev("aten::mm", DeviceType.CPU, 5.0, 30.0),
              ev("Optimizer.step#AdamW.step", DeviceType.CUDA, 500.0, 300.0, annotation=True),
              ev("multi_tensor_apply_kernel", DeviceType.CUDA, 600.0, 100.0)]
    assert gp.kernel_events(events) == [("nvjet_gemm_a", 10.0, 400.0), ("multi_tensor_apply_kernel", 600.0, 100.0)]


def test_profile_summary_without_gpu_kernels():
    assert gp.profile_summary([], 2.5) == "profiled wall time 2.500 s: no GPU kernels recorded (CPU run)\n"


def test_rows_measure_the_product_flags_and_the_hf_default_first():
    assert list(tt.ROWS)[:3] == list(tt.REQUIRED) == ["hf_default", "product", "shipped_before"]
    assert tt.ROWS["product"][2] == tt.PRODUCT_FLAGS and tt.PROFILED_ROW == "product"
    assert tt.mfu(14_855.0) == pytest.approx(0.4, abs=1e-4)


def test_card_memory_from_nvidia_smi():
    assert tt._card_gib("NVIDIA H200, 143771 MiB, 580.159.03") == pytest.approx(140.4, abs=0.05)
    assert tt._card_gib("NVIDIA H100 80GB HBM3, 81559 MiB, 580.159.04") == pytest.approx(79.6, abs=0.05)
    assert tt._card_gib("cpu") is None


def test_accelerate_override_changes_only_the_named_fsdp_keys(tmp_path):
    """A row of ACCELERATE_OVERRIDES runs with a copy of the shipped one-node config in which only the
    named fsdp_config keys differ (the candidate rows keep the bf16 parameters gathered from forward to
    backward); a key the config does not have is an error, not a silent no-op."""
    import yaml

    shipped = yaml.safe_load((ROOT / "src/vlm3/train/accelerate/fsdp_single_node.yaml").read_text())
    assert shipped["fsdp_config"]["fsdp_reshard_after_forward"] is True
    assert tt.ACCELERATE_OVERRIDES == {"product_next": {"fsdp_reshard_after_forward": False},
                                       "product_next_liger": {"fsdp_reshard_after_forward": False},
                                       "product_noreshard": {"fsdp_reshard_after_forward": False}}
    path = tt.accelerate_config(tmp_path / "a" / "x.yaml", {"fsdp_reshard_after_forward": False})
    cfg = yaml.safe_load(path.read_text())
    assert cfg["fsdp_config"] == {**shipped["fsdp_config"], "fsdp_reshard_after_forward": False}
    assert {k: v for k, v in cfg.items() if k != "fsdp_config"} == {
        k: v for k, v in shipped.items() if k != "fsdp_config"}
    with pytest.raises(ValueError, match=r"no such fsdp_config keys \['fsdp_reshard'\]"):
        tt.accelerate_config(tmp_path / "y.yaml", {"fsdp_reshard": True})
    assert tt.ROWS["product_next"][2] == tt.ROWS["product_varlen_vision"][2] == [*tt.PRODUCT_FLAGS, "--varlen-vision"]
    assert tt.ROWS["product_noreshard"][2] == tt.PRODUCT_FLAGS
    assert tt.ROWS["product_next_liger"][2] == [*tt.PRODUCT_FLAGS, "--varlen-vision", "--liger"]
