import subprocess
import sys

from click.testing import CliRunner

from facebench import __version__
from facebench.cli import COMMANDS, cli


def test_help_lists_commands():
    out = CliRunner().invoke(cli, ["--help"])
    assert out.exit_code == 0
    for name in COMMANDS:
        assert name in out.output


def test_version():
    out = CliRunner().invoke(cli, ["--version"])
    assert out.exit_code == 0 and __version__ in out.output


def test_help_does_not_import_torch():
    code = (
        "import sys; from facebench.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'trimesh', 'h5py', 'matplotlib', 'pandas') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout, out.stdout


def test_unknown_command_is_one_line():
    out = subprocess.run([sys.executable, "-m", "facebench", "evalute"], capture_output=True, text=True)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no such command" in lines[0]
    assert "Traceback" not in out.stderr


def test_bad_option_is_one_line():
    out = subprocess.run([sys.executable, "-m", "facebench", "demo", "--bogus"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
