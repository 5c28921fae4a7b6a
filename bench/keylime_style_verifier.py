#!/usr/bin/python3
"""The peer of bench/verifier.sh: the work a Keylime verifier does per attestation round, done
the way Keylime does it (Keylime itself is not packaged for Debian, and only Debian's packages
are reachable here). Per round: tpm2_checkquote (tpm2-tools) checks the quote's signature,
nonce and PCR digest; then the ascii measurement-list delta is parsed, each entry's ima-ng
template data is rebuilt and hashed with SHA-256 and replayed into PCR 10, the result is
compared with the quoted PCR 10, and every entry's digest is looked up in the allowlist
(Keylime's runtime policy "digests"). Rounds are spread over WORKERS processes.

usage: keylime_style_verifier.py DIR SECONDS WORKERS   (DIR written by vigil_verifier_bench)
prints one JSON line: rounds, seconds, rounds_per_second."""
import hashlib
import json
import multiprocessing
import os
import struct
import subprocess
import sys
import time


def load_allowlist(directory):
    with open(os.path.join(directory, "allowlist.json")) as handle:
        policy = json.load(handle)
    return {path: set(digests) for path, digests in policy["digests"].items()}


def template_data(algo, digest_hex, path):
    digest_field = algo.encode() + b":\0" + bytes.fromhex(digest_hex)
    name_field = path.encode() + b"\0"
    return (struct.pack("<I", len(digest_field)) + digest_field +
            struct.pack("<I", len(name_field)) + name_field)


def judge_round(round_dir, allowlist):
    with open(os.path.join(round_dir, "nonce")) as handle:
        nonce = handle.read().strip()
    checked = subprocess.run(
        ["tpm2_checkquote", "-u", os.path.join(os.path.dirname(round_dir), "ak.pem"),
         "-m", os.path.join(round_dir, "attest"), "-s", os.path.join(round_dir, "signature"),
         "-f", os.path.join(round_dir, "pcrs"), "-g", "sha256", "-q", nonce],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if checked.returncode != 0:
        return False
    with open(os.path.join(round_dir, "start_pcr10")) as handle:
        pcr = bytes.fromhex(handle.read().strip())
    with open(os.path.join(round_dir, "quoted_pcr10")) as handle:
        quoted = bytes.fromhex(handle.read().strip())
    with open(os.path.join(round_dir, "ascii_runtime_measurements")) as handle:
        lines = handle.read().splitlines()
    matched = None
    entries = []
    for index, line in enumerate(lines):
        fields = line.split(" ", 4)
        if len(fields) < 5 or fields[2] != "ima-ng":
            return False
        algo, _, digest_hex = fields[3].partition(":")
        path = fields[4]
        pcr = hashlib.sha256(pcr + hashlib.sha256(template_data(algo, digest_hex, path)).digest()).digest()
        entries.append((path, digest_hex))
        if pcr == quoted:
            matched = index + 1
            break
    if matched is None:
        return False
    for path, digest_hex in entries:
        if path == "boot_aggregate":
            continue
        if digest_hex not in allowlist.get(path, ()):
            return False
    return True


def worker(args):
    directory, rounds, deadline, offset, step = args
    allowlist = load_allowlist(directory)
    judged = 0
    index = offset
    while time.monotonic() < deadline:
        if not judge_round(os.path.join(directory, rounds[index % len(rounds)]), allowlist):
            raise SystemExit("peer: a recorded round did not verify")
        judged += 1
        index += step
    return judged


def main():
    directory, seconds, workers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    rounds = sorted((name for name in os.listdir(directory) if name.startswith("round-")),
                    key=lambda name: int(name.split("-")[1]))
    began = time.monotonic()
    deadline = began + seconds
    with multiprocessing.Pool(workers) as pool:
        judged = sum(pool.map(worker, [(directory, rounds, deadline, i, workers) for i in range(workers)]))
    elapsed = time.monotonic() - began
    print(json.dumps({"rounds": judged, "seconds": round(elapsed, 3),
                      "rounds_per_second": round(judged / elapsed, 1), "workers": workers}))


if __name__ == "__main__":
    main()
