"""A FUSE filesystem that hangs on demand (python3-fuse, Debian's binding of libfuse).

    hang_fs.py MOUNTPOINT HANG_FLAG_FILE

While HANG_FLAG_FILE exists, statfs, getattr and readdir block inside the filesystem
server: a process that touches the mount waits in the kernel for an answer that does
not come, like one on a dead NFS server or a wedged Lustre OST. After SIGKILL such a
process stays in D state (the request is already in userspace), which is what the check
runner's per-mount lock is for. Removing the flag file answers every waiting request.
Runs in the foreground (-f); the test unmounts it.
"""

import errno
import os
import stat
import sys
import time

import fuse

fuse.fuse_python_api = (0, 2)


class HangFs(fuse.Fuse):
    flag = None

    def _wait(self):
        while os.path.exists(self.flag):
            time.sleep(0.05)

    def getattr(self, path):
        if path != "/":
            return -errno.ENOENT
        self._wait()
        st = fuse.Stat()
        st.st_mode = stat.S_IFDIR | 0o755
        st.st_nlink = 2
        return st

    def readdir(self, path, offset):
        self._wait()
        for name in (".", ".."):
            yield fuse.Direntry(name)

    def statfs(self):
        self._wait()
        st = fuse.StatVfs()
        st.f_bsize = 4096
        st.f_frsize = 4096
        st.f_blocks = 1024
        st.f_bfree = 512
        st.f_bavail = 512
        st.f_namemax = 255
        return st


def main():
    mountpoint, flag = sys.argv[1], sys.argv[2]
    server = HangFs(version="%prog " + fuse.__version__, usage=__doc__, dash_s_do="setsingle")
    server.flag = flag
    # attr_timeout=0: every stat reaches the server, none is answered from the kernel cache.
    server.parse(["hang_fs", mountpoint, "-f", "-o", "attr_timeout=0,entry_timeout=0,fsname=accelmon-hangfs"], errex=1)
    server.main()


if __name__ == "__main__":
    main()
