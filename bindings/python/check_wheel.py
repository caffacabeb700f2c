"""Builds the wheel with pip from the source tree, installs it offline into
a fresh virtual environment and runs an example there, outside the tree.

numpy comes from the system site packages (the venv sees them), so nothing
is fetched from an index.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys


def run(cmd, **kwargs):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--package", required=True, help="the built package directory to reuse")
    ap.add_argument("--work", required=True)
    ap.add_argument("--example", required=True)
    args = ap.parse_args()
    example = os.path.abspath(args.example)

    shutil.rmtree(args.work, ignore_errors=True)
    wheels, venv = os.path.join(args.work, "wheels"), os.path.join(args.work, "venv")
    os.makedirs(wheels)
    env = dict(os.environ, SPARSA_WHEEL_PACKAGE_DIR=args.package, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    run([sys.executable, "-m", "pip", "wheel", "--no-index", "--no-deps", "-w", wheels, args.source],
        env=env)
    (wheel,) = glob.glob(os.path.join(wheels, "sparsa-*.whl"))

    run([sys.executable, "-m", "venv", "--system-site-packages", venv])
    python = os.path.join(venv, "bin", "python")
    run([python, "-m", "pip", "install", "--no-index", wheel], env=env)
    # From an empty directory: the installed package, not the source tree.
    cwd = os.path.join(args.work, "run")
    os.makedirs(cwd)
    run([python, "-c", "import sparsa, os; print(sparsa.__file__, sparsa.__version__); "
         "assert os.path.dirname(sparsa.__file__).startswith(os.path.realpath(%r))" % venv], cwd=cwd, env=env)
    run([python, example], cwd=cwd, env=env)


if __name__ == "__main__":
    main()
