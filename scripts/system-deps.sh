#!/usr/bin/env bash
# Install the Debian packages the test suite drives for real (only those missing; needs root or sudo).
#   softhsm2       PKCS#11 HSM for the key-provider tests
#   openssl        the reference client in the PKI tests
#   poppler-utils  pdfsig / pdftoppm, qpdf: independent PDF validators
#   fonts-noto-cjk Chinese text in seals and reports
#   fonts-arphic-ukai  Kaiti (handwriting-style) font for generated signatures
set -euo pipefail
packages=(softhsm2 openssl poppler-utils qpdf fonts-noto-cjk fonts-arphic-ukai)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
