"""PEP 517 backend of the sparsa wheel (see the root pyproject.toml).

The package is CMake's: the library, the SWIG module and the Python layer
are assembled in <build>/bindings/python/sparsa. This backend configures and
builds that target in a temporary directory (or, with the environment
variable SPARSA_WHEEL_PACKAGE_DIR, takes an already assembled package, as
the test suite does; SPARSA_WHEEL_CMAKE_ARGS adds configure arguments, such
as -DSPARSA_CUDA=OFF) and writes the wheel itself: a wheel is a zip file with
three metadata files, so no build dependency has to come from an index.
"""

import base64
import hashlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11: the same parser under its old name, if installed
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _project():
    if tomllib is None:
        raise RuntimeError("building the sparsa wheel needs Python 3.11 or the tomli package")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        project["version"] = re.search(r"project\(sparsa\s+VERSION\s+([0-9.]+)", f.read()).group(1)
    return project


def _tag():
    # The extension is built for this interpreter and platform only.
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{py}-{py}-{platform}"


def _metadata(project):
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}",
             f"Summary: {project['description']}", f"Requires-Python: {project['requires-python']}"]
    lines += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {d}; extra == "{extra}"' for d in deps]
    readme = os.path.join(ROOT, project.get("readme", ""))
    body = ""
    if project.get("readme") and os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = "\n" + f.read()
    return "\n".join(lines) + "\n" + body


def _build_package(workdir):
    """Configure and build the package target; returns its directory."""
    build = os.path.join(workdir, "build")
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                    "-DSPARSA_BUILD_TESTS=OFF", "-DSPARSA_BUILD_TOOLS=OFF",
                    f"-DPython3_EXECUTABLE={sys.executable}",
                    *shlex.split(os.environ.get("SPARSA_WHEEL_CMAKE_ARGS", ""))],
                   check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", build, "--target", "sparsa_python_package",
                    "-j", str(os.cpu_count() or 2)], check=True, stdout=sys.stderr)
    return os.path.join(build, "bindings", "python", "sparsa")


def _package_files(package_dir):
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in sorted(filenames):
            if name.endswith((".py", ".so")) or ".so." in name:
                path = os.path.join(dirpath, name)
                yield path, "sparsa/" + os.path.relpath(path, package_dir).replace(os.sep, "/")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_wheel(wheel_directory, package_dir):
    project = _project()
    name, version = project["name"], project["version"]
    dist_info = f"{name}-{version}.dist-info"
    wheel_name = f"{name}-{version}-{_tag()}.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as whl:
        def add(arcname, data, mode=0o644):
            # A fixed date: the same inputs give the same wheel.
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(info, data)
            record.append(_record_line(arcname, data))

        for path, arcname in _package_files(package_dir):
            with open(path, "rb") as f:
                add(arcname, f.read(), 0o755 if ".so" in arcname else 0o644)
        add(f"{dist_info}/METADATA", _metadata(project).encode())
        add(f"{dist_info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: sparsa_wheel_backend\n"
                                   f"Root-Is-Purelib: false\nTag: {_tag()}\n").encode())
        record.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | 0o644) << 16
        whl.writestr(info, "\n".join(record) + "\n", zipfile.ZIP_DEFLATED)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    prebuilt = os.environ.get("SPARSA_WHEEL_PACKAGE_DIR")
    if prebuilt:
        if not os.path.exists(os.path.join(prebuilt, "capi.py")):
            raise RuntimeError(f"SPARSA_WHEEL_PACKAGE_DIR={prebuilt} holds no built sparsa package")
        return _write_wheel(wheel_directory, prebuilt)
    with tempfile.TemporaryDirectory(prefix="sparsa-wheel-") as workdir:
        return _write_wheel(wheel_directory, _build_package(workdir))
