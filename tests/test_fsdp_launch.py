"""`python -m vlm3.train.launch`: rendezvous from SLURM and the accelerate/torchrun command line."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vlm3.train.launch import (
    CONFIG_DIR,
    Rendezvous,
    build_command,
    gpus_from_slurm,
    parse_args,
    resolve_rendezvous,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_scontrol(tmp_path, monkeypatch):
    """A stand-in `scontrol` on PATH (SLURM is not installed here) that expands gpu[03-04]."""
    exe = tmp_path / "scontrol"
    exe.write_text('#!/bin/sh\n[ "$1 $2 $3" = "show hostnames gpu[03-04]" ] || exit 3\necho gpu03\necho gpu04\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return exe


SLURM = {"SLURM_NNODES": "2", "SLURM_NODEID": "1", "SLURM_JOB_NODELIST": "gpu[03-04]",
         "SLURM_GPUS_ON_NODE": "8", "SLURM_JOB_ID": "4242"}


def test_two_node_slurm_command(fake_scontrol):
    args = parse_args(["--", "--config", "config/paper.yaml", "--task", "depth"])
    rdv = resolve_rendezvous(args, SLURM)
    assert rdv == Rendezvous(nnodes=2, node_rank=1, gpus_per_node=8, main_address="gpu03", main_port=29742)
    cmd = build_command(rdv, args.module, args.module_args)
    assert cmd == [
        "accelerate", "launch", "--config_file", str(CONFIG_DIR / "fsdp_hybrid.yaml"),
        "--num_machines", "2", "--machine_rank", "1", "--num_processes", "16",
        "--main_process_ip", "gpu03", "--main_process_port", "29742",
        "--rdzv_backend", "static", "--same_network",
        "--parallelism_config_dp_replicate_size", "2", "--parallelism_config_dp_shard_size", "8",
        "-m", "vlm3.train", "--config", "config/paper.yaml", "--task", "depth",
    ]


def test_single_node_and_explicit_arguments_win():
    args = parse_args(["--gpus-per-node", "4", "--main-port", "30000", "--module", "vlm3.x", "--", "-a"])
    rdv = resolve_rendezvous(args, {})
    assert rdv == Rendezvous(1, 0, 4, "127.0.0.1", 30000)
    cmd = build_command(rdv, args.module, args.module_args)
    assert cmd[:4] == ["accelerate", "launch", "--config_file", str(CONFIG_DIR / "fsdp_single_node.yaml")]
    assert "--parallelism_config_dp_shard_size" not in cmd
    assert cmd[-3:] == ["-m", "vlm3.x", "-a"]
    args = parse_args(["--nnodes", "3", "--node-rank", "2", "--main-address", "head", "--gpus-per-node", "2"])
    assert resolve_rendezvous(args, SLURM) == Rendezvous(3, 2, 2, "head", 29742)


def test_cpu_command_is_torchrun():
    args = parse_args(["--cpu", "--gpus-per-node", "2", "--module", "benchmarks.fsdp_cpu", "--", "--steps", "2"])
    rdv = resolve_rendezvous(args, {})
    cmd = build_command(rdv, args.module, args.module_args, cpu=True)
    assert cmd == [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--node_rank", "0",
                   "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(rdv.main_port),
                   "-m", "benchmarks.fsdp_cpu", "--steps", "2"]
    # outside SLURM a single node takes a port the OS has free (concurrent runs on one machine)
    assert 1024 <= rdv.main_port <= 65535
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", rdv.main_port))  # it is free


@pytest.mark.parametrize("value,expect", [("8", 8), ("h100:4", 4), ("gpu:h100:2", 2), ("4(IDX:0-3)", 4)])
def test_gpus_per_node_formats(value, expect):
    assert gpus_from_slurm({"SLURM_GPUS_PER_NODE": value}) == expect
    assert gpus_from_slurm({}) is None


def test_bad_inputs():
    with pytest.raises(ValueError, match="SLURM_GPUS_PER_NODE='h100:x'"):
        gpus_from_slurm({"SLURM_GPUS_PER_NODE": "h100:x"})
    with pytest.raises(ValueError, match="SLURM_NNODES='two' is not an integer"):
        resolve_rendezvous(parse_args(["--gpus-per-node", "1"]), {"SLURM_NNODES": "two"})
    with pytest.raises(ValueError, match="node rank 4 outside"):
        resolve_rendezvous(parse_args(["--gpus-per-node", "1", "--nnodes", "2", "--node-rank", "4"]), {})
    with pytest.raises(ValueError, match="no --main-address"):
        resolve_rendezvous(parse_args(["--gpus-per-node", "1", "--nnodes", "2"]), {})
    with pytest.raises(ValueError, match="config file not found"):
        build_command(Rendezvous(1, 0, 1, "h", 1), "m", [], config_file="/nonexistent.yaml")
    env = {"SLURM_JOB_NODELIST": "gpu[01-02]", "PATH": "/nonexistent"}
    old = os.environ["PATH"]
    try:
        os.environ["PATH"] = "/nonexistent"
        with pytest.raises(ValueError, match="scontrol is not on PATH"):
            resolve_rendezvous(parse_args(["--gpus-per-node", "1"]), env)
    finally:
        os.environ["PATH"] = old


def test_accelerate_accepts_the_configs(tmp_path):
    """The YAML files load as accelerate configs (FSDP2; hybrid with a parallelism config)."""
    from accelerate.commands.config.config_args import load_config_from_file

    single = load_config_from_file(str(CONFIG_DIR / "fsdp_single_node.yaml"))
    hybrid = load_config_from_file(str(CONFIG_DIR / "fsdp_hybrid.yaml"))
    for c in (single, hybrid):
        assert c.distributed_type == "FSDP" and c.mixed_precision == "bf16"
        assert c.fsdp_config["fsdp_version"] == 2
    assert hybrid.parallelism_config["parallelism_config_dp_shard_size"] == 8
    assert single.parallelism_config in (None, {})


def test_cli_dry_run_prints_command():
    out = subprocess.run([sys.executable, "-m", "vlm3.train.launch", "--dry-run", "--gpus-per-node", "8",
                          "--", "--config", "c.yaml"], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={**os.environ, "SLURM_NNODES": "1"}).stdout
    assert re.search(r"--main_process_port \d+ -m vlm3.train --config c.yaml$", out.strip())


def test_command_form_names_the_module():
    """`-- python -m MODULE ARGS` (as the train rule writes it) is the same as `--module MODULE -- ARGS`."""
    args = parse_args(["--gpus-per-node", "2", "--", "python", "-m", "vlm3.train", "--model", "m", "--packing"])
    assert (args.module, args.module_args) == ("vlm3.train", ["--model", "m", "--packing"])
    args = parse_args(["--module", "vlm3.train", "--", "/usr/bin/python3", "-m", "vlm3.train", "-a"])
    assert (args.module, args.module_args) == ("vlm3.train", ["-a"])
    with pytest.raises(ValueError, match="expected 'python -m MODULE ...', got 'python train.py'"):
        parse_args(["--", "python", "train.py"])
    with pytest.raises(ValueError, match="--module vlm3.x disagrees with the command's module vlm3.train"):
        parse_args(["--module", "vlm3.x", "--", "python", "-m", "vlm3.train"])


def test_launcher_execs_accelerate(tmp_path):
    """The launcher replaces itself with accelerate (same process id), so SLURM's SIGTERM reaches
    accelerate directly instead of killing a parent that would orphan the trainers. FAKE accelerate:
    a script on PATH recording its pid, argv and the multicast settings."""
    fake = tmp_path / "accelerate"
    rec = tmp_path / "rec.txt"
    fake.write_text('#!/bin/sh\necho "$$ $NCCL_NVLS_ENABLE $TORCH_SYMM_MEM_DISABLE_MULTICAST $NVSHMEM_DISABLE_NVLS $*"'
                    f' > {rec}\nexit 7\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    for k in ("NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST", "NVSHMEM_DISABLE_NVLS"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "vlm3.train.launch", "--gpus-per-node", "2", "--",
                             "python", "-m", "vlm3.train", "--packing"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 7
    pid, nvls, symm, nvshmem, *argv = rec.read_text().split()
    assert int(pid) == proc.pid and (nvls, symm, nvshmem) == ("0", "1", "1")  # NVLink multicast off
    assert argv[:2] == ["launch", "--config_file"]
    assert argv[-3:] == ["-m", "vlm3.train", "--packing"]
    assert argv[argv.index("--num_processes") + 1] == "2"
    assert out.strip().startswith("accelerate launch --config_file")
