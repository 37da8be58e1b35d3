"""Packaging: the wheel carries the code and the resources, an installed wheel finds them,
and the Linux desktop integration files are valid and install where desktops look.

The frozen bundle is checked by packaging/build.sh + packaging/smoke.sh, not here (minutes).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.github.dfviewer.DFViewer"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from the checkout (no isolation: hatchling comes from the dev extras)."""
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
         "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list(out.glob("dfviewer-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _names(wheel_path: Path) -> set[str]:
    with zipfile.ZipFile(wheel_path) as archive:
        return set(archive.namelist())


def test_wheel_has_every_module_and_package_data(wheel):
    names = _names(wheel)
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "dfviewer").rglob("*.py")
                if "__pycache__" not in p.parts}
    assert expected, "no modules found in the checkout"
    assert not expected - names, f"modules missing from the wheel: {sorted(expected - names)}"
    assert "dfviewer/imaging/colormaps.npz" in names
    assert not [n for n in names if n.endswith(".pyc") or n.startswith("tests/")]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(entry_points).decode()
    assert "dfviewer = dfviewer.cli.main:main" in text



def test_wheel_carries_the_license(wheel):
    names = _names(wheel)
    licenses = [n for n in names if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"]
    assert len(licenses) == 1, sorted(n for n in names if ".dist-info/" in n)
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License: MIT" in metadata or "License-Expression: MIT" in metadata

def test_wheel_has_icons(wheel):
    names = _names(wheel)
    icons = "dfviewer/resources/icons/"
    for name in ("dfviewer.svg", "dfviewer.png", "dfviewer.ico"):
        assert icons + name in names
    for size in ICON_SIZES:
        assert f"{icons}hicolor/{size}x{size}/apps/{APP_ID}.png" in names


def test_wheel_has_demo_model_and_dicom_samples(wheel):
    names = _names(wheel)
    model = "dfviewer/resources/models/demo.safetensors"
    assert model in names, "the bundled demo model resources/models/demo.safetensors is not in the wheel"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.getinfo(model).file_size == (ROOT / "resources" / "models" / "demo.safetensors").stat().st_size
    samples = [n for n in names if n.startswith("dfviewer/resources/samples/") and n.lower().endswith(".dcm")]
    assert samples, "no DICOM sample (resources/samples/*.dcm) in the wheel"


def test_wheel_has_the_demo_models_inference_graph(wheel):
    graph = "dfviewer/resources/models/demo.onnx"
    with zipfile.ZipFile(wheel) as archive:
        assert graph in archive.namelist(), "the demo model's graph resources/models/demo.onnx is not in the wheel"
        assert archive.read(graph) == (ROOT / "resources" / "models" / "demo.onnx").read_bytes()


def test_the_shipped_graph_belongs_to_the_shipped_weights():
    """A retrained demo model needs its graph exported again: dfviewer export resources/models/demo.safetensors."""
    pytest.importorskip("onnxruntime")
    from dfviewer.core.graph_files import KEY_DIGEST, weights_digest
    from dfviewer.core.runtime_session import graph_metadata

    models = ROOT / "resources" / "models"
    assert graph_metadata(models / "demo.onnx")[KEY_DIGEST] == weights_digest(models / "demo.safetensors"), (
        "resources/models/demo.onnx was exported from other weights; run "
        "`dfviewer export resources/models/demo.safetensors`")


def _outer_site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def test_installed_wheel_finds_its_resources(wheel, tmp_path):
    """Install the wheel (no deps) into a fresh venv and use it from there, not from the checkout.

    The dependencies (torch, PyQt6, ...) come from this test's own environment through a .pth
    line added after the venv's site-packages. Plain path lines do not run the outer
    environment's .pth files, so an editable dfviewer there cannot shadow the installed one;
    this also works when the outer environment is itself a venv (CI), unlike
    --system-site-packages, which would reach the base interpreter only.
    """
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "-q", str(wheel)],
        capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    Path(site, "zz_outer_environment.pth").write_text("\n".join(_outer_site_dirs()) + "\n")

    work = tmp_path / "cwd"  # neither the checkout nor its parent: nothing to shadow the install
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    probe = (
        "import dfviewer, sys; from dfviewer.resources import resource_path, resources_dir; "
        "root = resources_dir(); "
        "print(dfviewer.__file__); print(root); "
        "print(resource_path('models', 'demo.safetensors').is_file()); "
        "print(len(list(resource_path('samples').glob('*.dcm')))); "
        "print(resource_path('icons', 'hicolor', '48x48', 'apps', 'io.github.dfviewer.DFViewer.png').is_file())"
    )
    result = subprocess.run([str(python), "-I", "-c", probe], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    module_file, root, has_model, n_samples, has_icon = result.stdout.split("\n")[:5]
    assert Path(module_file).is_relative_to(env_dir), f"dfviewer was imported from {module_file}, not the venv"
    assert Path(root) == Path(site) / "dfviewer" / "resources"
    assert has_icon == "True"

    script = env_dir / ("Scripts/dfviewer.exe" if os.name == "nt" else "bin/dfviewer")
    if os.name != "nt":
        assert script.read_text().startswith(f"#!{python}"), "the dfviewer script does not run the venv's python"
    version = subprocess.run([str(script), "--version"], cwd=work, env=env, capture_output=True, text=True,
                             timeout=60)
    import dfviewer

    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"dfviewer {dfviewer.__version__}"
    assert has_model == "True", "the installed wheel has no demo model"
    assert int(n_samples) >= 1, "the installed wheel has no DICOM sample"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(LINUX / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_bundle_spec_names_every_package_imported_by_name():
    """PyInstaller cannot see ``runtime_package("x")`` (importlib): each such x is a hidden import or excluded.

    The torch-free bundle once shipped without onnxruntime and every predict in it failed.
    """
    import re

    spec = (ROOT / "packaging" / "dfviewer.spec").read_text()
    hidden = set(re.findall(r'"([\w.]+)"', " ".join(re.findall(r"^hiddenimports \+= \[(.*)\]$", spec, re.M))))
    excluded = set(re.findall(r'"([\w.]+)"', re.search(r"^excludes = \[(.*?)\]", spec, re.M | re.S).group(1)))
    by_name = {m for f in (ROOT / "dfviewer").rglob("*.py")
               for m in re.findall(r'runtime_package\("([\w.]+)"\)', f.read_text())}
    assert by_name >= {"onnxruntime", "onnx"}, by_name
    assert {name for name in by_name if name not in hidden | excluded} == set()
    assert "onnxruntime" in hidden and "onnxruntime" not in excluded


def test_bundle_excludes_no_module_dfviewer_imports():
    """The spec leaves sub-modules out (scipy.stats, skimage.feature, pyarrow.flight, ...) to keep the bundle
    small; a dfviewer module importing one of them would fail only inside the bundle."""
    import ast
    import re

    spec = (ROOT / "packaging" / "dfviewer.spec").read_text()
    excluded = {name for name in re.findall(r'"([\w.]+)"', re.search(r"^excludes = \[(.*?)\]", spec, re.M | re.S).group(1))
                if "." in name}  # the sub-module exclusions; torch and onnx are imported by name on purpose
    assert {"scipy.stats", "skimage.feature", "pyarrow.flight", "PyQt6.QtTest"} <= excluded
    imported = set()
    for path in (ROOT / "dfviewer").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    clash = {m for m in imported for e in excluded if m == e or m.startswith(e + ".")}
    assert clash == set(), f"dfviewer imports modules the bundle spec excludes: {sorted(clash)}"


@pytest.mark.skipif(shutil.which("strip") is None or not sys.platform.startswith("linux"), reason="needs binutils")
def test_strip_libs_keeps_patchelfed_libraries_and_strips_the_others(tmp_path):
    """PyInstaller's strip broke numpy's OpenBLAS (patchelf'd by auditwheel) in the bundle: the copy's
    segments were no longer page-aligned. strip_libs must refuse such a copy and strip libpython."""
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import strip_libs
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    import numpy

    openblas = next((Path(numpy.__file__).parent.parent / "numpy.libs").glob("libscipy_openblas*.so"))
    assert strip_libs.load_segments_aligned(openblas)
    broken = tmp_path / "broken.so"
    subprocess.run(["strip", "-o", str(broken), str(openblas)], check=True)
    assert not strip_libs.load_segments_aligned(broken)  # what PyInstaller's strip=True shipped
    assert strip_libs.stripped_copy(openblas, tmp_path / "out") is None
    assert not strip_libs.load_segments_aligned(Path(__file__))  # not ELF at all

    libpython = Path(sysconfig.get_config_var("LIBDIR")) / str(sysconfig.get_config_var("INSTSONAME"))
    if not libpython.is_file():
        pytest.skip(f"this Python has no shared {libpython.name}")
    copy = strip_libs.stripped_copy(libpython, tmp_path / "out")
    if copy is not None:  # None where this libpython was stripped already
        assert strip_libs.load_segments_aligned(copy) and copy.stat().st_size < libpython.stat().st_size
        loaded = subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(copy)!r})"])
        assert loaded.returncode == 0


def test_desktop_entry_and_metainfo_agree():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "dfviewer" and "%F" in entry["Exec"]
    assert entry["Icon"] == APP_ID
    assert (ROOT / "resources" / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png").is_file()
    meta = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert meta.get("type") == "desktop-application"
    assert meta.findtext("id") == APP_ID
    assert meta.find("launchable").text == f"{APP_ID}.desktop"
    assert "not for clinical use" in " ".join(meta.find("description").itertext())
    import dfviewer

    assert dfviewer.__version__ in [r.get("version") for r in meta.iter("release")]


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-validate is not installed")
def test_desktop_file_validates():
    result = subprocess.run(["desktop-file-validate", str(LINUX / f"{APP_ID}.desktop")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli is not installed")
def test_metainfo_validates():
    result = subprocess.run(["appstreamcli", "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="desktop integration is for Linux")
def test_install_desktop_script_installs_and_removes(tmp_path):
    fake_exe = tmp_path / "bundle dir" / "dfviewer"  # a space in the path must survive the Exec key
    fake_exe.parent.mkdir()
    fake_exe.write_text("#!/bin/sh\n")
    fake_exe.chmod(0o755)
    script = LINUX / "install-desktop.sh"
    env = dict(os.environ, HOME=str(tmp_path / "home"))
    env.pop("XDG_DATA_HOME", None)
    done = subprocess.run(["bash", str(script), "--exec", str(fake_exe)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    share = tmp_path / "home" / ".local" / "share"
    desktop = share / "applications" / f"{APP_ID}.desktop"
    text = desktop.read_text()
    assert f'Exec="{fake_exe}" %F' in text and f"TryExec={fake_exe}" in text
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in ICON_SIZES:
        assert (share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()

    prefix = subprocess.run(["bash", str(script), "--prefix", str(tmp_path / "usr")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert prefix.returncode == 0, prefix.stderr
    assert (tmp_path / "usr" / "share" / "applications" / f"{APP_ID}.desktop").read_text() == \
        (LINUX / f"{APP_ID}.desktop").read_text()

    removed = subprocess.run(["bash", str(script), "--uninstall"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert not desktop.exists()
    assert not list((share / "icons").rglob("*.png")) and not list((share / "icons").rglob("*.svg"))

    bad = subprocess.run(["bash", str(script), "--exec", str(tmp_path / "missing")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not an executable" in bad.stderr
