#!/usr/bin/env bash
# Records tests/data/rules/default_behaviours.vcap: a capture of real host behaviours the default
# ruleset is about (and a few benign commands), for tests/unit/rules_recorded_capture_test.cpp, which
# replays it through the process table and rules/default.yaml without root. Run as root on a
# quiet machine when the ABI or the behaviours change:
#   sudo tests/data/rules/record_default_behaviours.sh [build/src/vigil]
# Everything it touches is its own: a file under /usr/local/bin and one under /var/log, one in
# /dev/shm and a link to it in its temp dir, all removed; a listener on 127.0.0.1:3333 and
# ephemeral loopback ports; its own children.
set -euo pipefail
VIGIL=${1:-build/src/vigil}
OUT=$(cd "$(dirname "$0")" && pwd)/default_behaviours.vcap
WORK=$(mktemp -d)
CAPTURE_PID=""
cleanup() {
  [[ -n $CAPTURE_PID ]] && kill -INT "$CAPTURE_PID" 2>/dev/null && wait "$CAPTURE_PID" 2>/dev/null
  rm -f /usr/local/bin/.vigil-recorded /var/log/vigil-recorded.log /dev/shm/vigil-recorded
  rm -rf "$WORK"
}
trap cleanup EXIT

syscalls=()
for s in procexec fork procexit openat unlinkat connect socket bind listen accept accept4 dup dup2 dup3 ptrace setuid \
         setresuid memfd_create execve execveat bpf finit_module; do
  syscalls+=(--syscall "$s")
done
"$VIGIL" capture -w "$WORK/capture.vcap" "${syscalls[@]}" 2>"$WORK/capture.err" &
CAPTURE_PID=$!
sleep 2

# benign
ls /tmp >/dev/null
cat /etc/hostname >/dev/null
# Read sensitive file
cat /etc/shadow >/dev/null
# Write below binary or library directory
sh -c 'echo x > /usr/local/bin/.vigil-recorded'
rm -f /usr/local/bin/.vigil-recorded
# Log tampering (created without truncation first, then truncated, then removed)
/usr/bin/python3 -I -S -c 'import os; os.close(os.open("/var/log/vigil-recorded.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))'
sh -c ': > /var/log/vigil-recorded.log'
rm -f /var/log/vigil-recorded.log
# Fileless execution
/usr/bin/python3 -I -S -c '
import os
fd = os.memfd_create("payload", 0)
os.write(fd, open("/bin/busybox", "rb").read())
os.execve(fd, ["true"], {})'
# Fileless execution through a symlink into /dev/shm
cp /bin/busybox /dev/shm/vigil-recorded
ln -s /dev/shm/vigil-recorded "$WORK/innocent"
(exec -a true "$WORK/innocent")
rm -f /dev/shm/vigil-recorded
# Connection to mining pool port; Reverse shell: an interpreter puts its connection on stdin and
# stdout, and a process that connected does so and runs a shell
/usr/bin/python3 -I -S -c '
import os, socket
pool = socket.socket(); pool.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
pool.bind(("127.0.0.1", 3333)); pool.listen(1)
socket.create_connection(("127.0.0.1", 3333)).close()
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(2)
if os.fork() == 0:
    s = socket.create_connection(listener.getsockname())
    os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)
    os._exit(0)
os.wait()
if os.fork() == 0:
    s = socket.create_connection(listener.getsockname())
    os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)
    os.execv("/bin/sh", ["sh", "-c", "exit 0"])
os.wait()'
# Benign: an inetd-style server hands an accepted connection to a shell script as its stdin and
# stdout
/usr/bin/python3 -I -S -c '
import os, socket
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
if os.fork() == 0:
    conn, _ = server.accept()
    os.dup2(conn.fileno(), 0); os.dup2(conn.fileno(), 1)
    os.execv("/bin/sh", ["sh", "-c", "read line; echo served"])
client = socket.create_connection(server.getsockname())
client.sendall(b"hello\n"); client.recv(64); client.close()
os.wait()'
# Ptrace attach to another process
/usr/bin/python3 -I -S -c '
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
child = os.fork()
if child == 0:
    time.sleep(5); os._exit(0)
libc.ptrace(16, child, None, None)  # PTRACE_ATTACH
os.waitpid(child, 0)
os.kill(child, signal.SIGKILL); os.waitpid(child, 0)'
sleep 1
kill -INT "$CAPTURE_PID"; wait "$CAPTURE_PID" || true; CAPTURE_PID=""
# Keep only this script's own process tree (the machine may be busy: other processes' records
# would only make the file larger): records of its pid and of every process forked below it.
/usr/bin/python3 -I -S - "$WORK/capture.vcap" "$OUT" "$$" <<'PY'
import struct, sys
src, dst, root = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
header_size = struct.unpack_from("<I", data, 12)[0]
out = [data[:header_size]]
mine = {root}
at = header_size
while at + 4 <= len(data):
    (length,) = struct.unpack_from("<I", data, at)
    record = data[at + 4:at + 4 + length]
    at += 4 + length
    rtype, pid = struct.unpack_from("<I", record, 8)[0], struct.unpack_from("<I", record, 16)[0]
    if rtype == 2 and pid in mine:  # a fork below us
        mine.add(struct.unpack_from("<I", record, 80)[0])
    if pid in mine:
        out.append(struct.pack("<I", length) + record)
open(dst, "wb").write(b"".join(out))
PY
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"
