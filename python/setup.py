# SPDX-License-Identifier: Apache-2.0
"""The ttalloc Python package: a ctypes binding of libttalloc (pure Python).

Installs offline with no other package than Debian's python3-setuptools:
    pip install ./python            (in a venv; or add --break-system-packages)
There is deliberately no pyproject.toml: with one, pip builds in an isolated
environment and must download setuptools from an index, which fails offline.
"""
from setuptools import setup

setup(
    name="ttalloc",
    version="0.1.0",
    description="Record and query Tenstorrent device memory use (tt-alloc), "
                "with a pytest leak check",
    long_description=open(__file__.replace("setup.py", "README.md")).read()
    if __import__("os").path.exists(__file__.replace("setup.py", "README.md")) else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=["ttalloc"],
    package_data={"ttalloc": ["py.typed"]},
    python_requires=">=3.7",
    install_requires=[],
    entry_points={
        # The entry point's name is the module's, so `-p ttalloc.pytest_plugin`
        # given on an installed system is a no-op, not a double registration.
        "pytest11": ["ttalloc.pytest_plugin = ttalloc.pytest_plugin"],
        "console_scripts": ["tt-alloc-py = ttalloc.__main__:main"],
    },
    classifiers=["Framework :: Pytest", "Programming Language :: Python :: 3",
                 "Operating System :: POSIX :: Linux"],
)
