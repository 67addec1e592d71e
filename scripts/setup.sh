#!/usr/bin/env bash
# Install fusevae with its test tools, put real MNIST, Animal-MNIST, easy-VQA and (where apt-get works) Fashion-MNIST
# in the data folder, and render the scene set once into its cache.
# torch goes first, pinned, so that nothing later asks pip for a CUDA build: on the
# project's CPU machines `torch==2.13.0` resolves to the local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
fusevae data fetch mnist
fusevae data fetch fashion || echo "setup: Fashion-MNIST not fetched (Debian's dataset-fashion-mnist); its real-data test is skipped"
fusevae data fetch scenes
fusevae data fetch animal || echo "setup: Animal-MNIST not fetched (PyPI animal-mnist wheel); its real-data test is skipped"
fusevae data fetch easyvqa || echo "setup: easy-VQA not fetched (PyPI easy-vqa wheel); its real-data tests are skipped"
