"""Build (and run) the `accelerate launch` command for FSDP training, rendezvous from SLURM.

    python -m vlm3.train.launch [--config-file YAML] [--nnodes N] [--node-rank R]
        [--gpus-per-node G] [--main-address HOST] [--main-port PORT] [--module vlm3.train]
        [--cpu] [--dry-run] -- <arguments of the training module>
    python -m vlm3.train.launch [...] -- python -m vlm3.train <arguments>   (same, command form)

Run it once per node (e.g. `srun --ntasks-per-node=1 python -m vlm3.train.launch -- ...`). Every
value not given is read from SLURM: SLURM_NNODES, SLURM_NODEID, the first host of
SLURM_JOB_NODELIST (expanded with `scontrol show hostnames`) as the rendezvous address,
SLURM_GPUS_ON_NODE / SLURM_GPUS_PER_NODE ("8" or "h100:8") for GPUs per node, and the port
29500 + SLURM_JOB_ID % 1000 (so jobs sharing a node don't collide). Outside SLURM: one node,
localhost, all visible GPUs and a free port from the OS (so several runs a workflow starts at once
on one machine, e.g. the four runs of config/replica.yaml, don't collide on 29500).

Sharding: one node -> `vlm3/train/accelerate/fsdp_single_node.yaml` (FSDP2 full shard); several nodes
-> `vlm3/train/accelerate/fsdp_hybrid.yaml` (FSDP2 HSDP: shard within a node, replicate across nodes,
sizes passed as --parallelism_config_dp_{replicate,shard}_size). `--cpu`: `torchrun` with
--gpus-per-node CPU processes (gloo), for tests and laptops.

After `--` come either the module's arguments or a whole `python -m MODULE ARGS` command (as the
train rule writes it, so the wrapped command reads like the CPU one); the latter names the module.
The launcher then *replaces itself* (exec) with accelerate/torchrun: a SIGTERM from SLURM reaches
the process that forwards it to the trainers, which checkpoint and exit 143.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
CONFIG_DIR = Path(__file__).resolve().parent / "accelerate"  # package data


@dataclass(frozen=True)
class Rendezvous:
    nnodes: int
    node_rank: int
    gpus_per_node: int
    main_address: str
    main_port: int


def _int_env(env, name: str) -> int | None:
    v = env.get(name)
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"environment variable {name}={v!r} is not an integer") from None


def gpus_from_slurm(env) -> int | None:
    """GPUs per node from SLURM_GPUS_ON_NODE, else SLURM_GPUS_PER_NODE ("8", "h100:8", "gpu:h100:8")."""
    n = _int_env(env, "SLURM_GPUS_ON_NODE")
    if n is not None:
        return n
    v = env.get("SLURM_GPUS_PER_NODE")
    if v:
        last = v.split(",")[0].split("(")[0].split(":")[-1]
        if not last.isdigit():
            raise ValueError(f"cannot read a GPU count from SLURM_GPUS_PER_NODE={v!r}")
        return int(last)
    return None


def first_host(nodelist: str, scontrol: str = "scontrol") -> str:
    """First hostname of a SLURM nodelist ("gpu[01-04,07]") via `scontrol show hostnames`."""
    exe = shutil.which(scontrol)
    if exe is None:
        if all(c not in nodelist for c in "[],"):
            return nodelist  # a single plain hostname needs no expansion
        raise ValueError(f"SLURM_JOB_NODELIST={nodelist!r} needs `scontrol show hostnames`, but scontrol is not on PATH")
    out = subprocess.run([exe, "show", "hostnames", nodelist], check=True, capture_output=True, text=True).stdout
    hosts = out.split()
    if not hosts:
        raise ValueError(f"scontrol show hostnames {nodelist!r} printed no host")
    return hosts[0]


def resolve_rendezvous(args, env=None) -> Rendezvous:
    """Combine explicit arguments with the SLURM environment (arguments win)."""
    env = os.environ if env is None else env
    nnodes = args.nnodes or _int_env(env, "SLURM_NNODES") or 1
    node_rank = args.node_rank if args.node_rank is not None else (_int_env(env, "SLURM_NODEID") or 0)
    if not 0 <= node_rank < nnodes:
        raise ValueError(f"node rank {node_rank} outside [0, nnodes={nnodes})")
    gpus = args.gpus_per_node or gpus_from_slurm(env)
    if gpus is None:
        if args.cpu:
            gpus = 1
        else:
            import torch

            gpus = torch.cuda.device_count()
    if gpus < 1:
        raise ValueError("no GPUs found: pass --gpus-per-node or --cpu")
    if args.main_address:
        addr = args.main_address
    elif env.get("SLURM_JOB_NODELIST"):
        addr = first_host(env["SLURM_JOB_NODELIST"])
    elif nnodes == 1:
        addr = "127.0.0.1"
    else:
        raise ValueError("several nodes but no --main-address and no SLURM_JOB_NODELIST")
    job = _int_env(env, "SLURM_JOB_ID")
    if args.main_port:
        port = args.main_port
    elif job is not None:
        port = 29500 + job % 1000
    elif nnodes == 1:
        port = free_port()
    else:
        port = 29500
    return Rendezvous(nnodes, node_rank, gpus, addr, port)


def free_port() -> int:
    """A TCP port the OS has free now on localhost (single-node rendezvous outside SLURM)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_command(rdv: Rendezvous, module: str, module_args: list[str], config_file: str | None = None,
                  cpu: bool = False) -> list[str]:
    """The launch argv for this node: `accelerate launch` (GPU, FSDP config) or, with `cpu`,
    `torchrun` (gloo; accelerate's own multi-CPU launcher needs MPI)."""
    if cpu:
        return [
            sys.executable, "-m", "torch.distributed.run",
            "--nnodes", str(rdv.nnodes), "--node_rank", str(rdv.node_rank),
            "--nproc_per_node", str(rdv.gpus_per_node),
            "--master_addr", rdv.main_address, "--master_port", str(rdv.main_port),
            "-m", module, *module_args,
        ]
    if config_file is None:
        name = "fsdp_hybrid.yaml" if rdv.nnodes > 1 else "fsdp_single_node.yaml"
        config_file = str(CONFIG_DIR / name)
    if not Path(config_file).is_file():
        raise ValueError(f"accelerate config file not found: {config_file}")
    cmd = [
        "accelerate", "launch", "--config_file", str(config_file),
        "--num_machines", str(rdv.nnodes), "--machine_rank", str(rdv.node_rank),
        "--num_processes", str(rdv.nnodes * rdv.gpus_per_node),
        "--main_process_ip", rdv.main_address, "--main_process_port", str(rdv.main_port),
    ]
    if rdv.nnodes > 1:
        cmd += ["--rdzv_backend", "static", "--same_network",
                "--parallelism_config_dp_replicate_size", str(rdv.nnodes),
                "--parallelism_config_dp_shard_size", str(rdv.gpus_per_node)]
    return cmd + ["-m", module, *module_args]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m vlm3.train.launch", description=__doc__.split("\n")[0])
    ap.add_argument("--config-file", help="accelerate YAML (default: chosen from the node count)")
    ap.add_argument("--nnodes", type=int)
    ap.add_argument("--node-rank", type=int)
    ap.add_argument("--gpus-per-node", type=int)
    ap.add_argument("--main-address")
    ap.add_argument("--main-port", type=int)
    ap.add_argument("--module", default="vlm3.train", help="python module to run (default vlm3.train)")
    ap.add_argument("--cpu", action="store_true", help="CPU processes (gloo) through torchrun")
    ap.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    ap.add_argument("module_args", nargs=argparse.REMAINDER, help="after --: arguments of the module")
    raw = list(sys.argv[1:] if argv is None else argv)
    explicit_module = "--module" in raw[: raw.index("--") if "--" in raw else len(raw)]
    args = ap.parse_args(argv)
    if args.module_args and args.module_args[0] == "--":
        args.module_args = args.module_args[1:]
    rest = args.module_args
    if rest and Path(rest[0]).name.startswith("python"):
        if len(rest) < 3 or rest[1] != "-m":
            raise ValueError(f"after --: expected 'python -m MODULE ...', got {shlex.join(rest[:3])!r}")
        if explicit_module and args.module != rest[2]:
            raise ValueError(f"--module {args.module} disagrees with the command's module {rest[2]}")
        args.module, args.module_args = rest[2], rest[3:]
    for name in ("nnodes", "gpus_per_node", "main_port"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    cmd = build_command(resolve_rendezvous(args), args.module, args.module_args, args.config_file, args.cpu)
    print(shlex.join(cmd), flush=True)
    if args.dry_run:
        return 0
    env = dict(os.environ)
    # NVLink multicast (NVLS) stays off: it can wedge shared GPU hosts.
    env.setdefault("NCCL_NVLS_ENABLE", "0")
    env.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
    env.setdefault("NVSHMEM_DISABLE_NVLS", "1")
    sys.stdout.flush()
    try:
        os.execvpe(cmd[0], cmd, env)  # no parent left to swallow SLURM's SIGTERM (module docstring)
    except FileNotFoundError:
        raise ValueError(f"{cmd[0]}: not found on PATH (install accelerate in this environment)") from None


if __name__ == "__main__":
    sys.exit(main())
