# Stand-in for ansible-test's pip bootstrap script (get-pip.py), which ansible-test downloads
# from ci-files.testing.ansible.com: CI and these sandboxes reach only PyPI. ensurepip brings
# pip from the interpreter itself, then pip installs what ansible-test asked for from PyPI.
# get-pip.py understands --no-setuptools/--no-wheel; pip install does not, so drop them.
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet"] + args))
