"""A private X server for the window tests: Xvfb on the first free display from :90, 1280x800."""
import os
import shutil
import subprocess
import time


def start(width=1280, height=800):
    """(process, display) of a running Xvfb, or (None, why) when there is none to start"""
    if not shutil.which("Xvfb"):
        return None, "no Xvfb"
    for n in range(90, 140):
        if not os.path.exists("/tmp/.X%d-lock" % n):
            disp = ":%d" % n
            break
    else:
        return None, "no free display"
    proc = subprocess.Popen(["Xvfb", disp, "-screen", "0", "%dx%dx24" % (width, height),
                             "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if os.path.exists("/tmp/.X11-unix/X" + disp[1:]):
            break
        time.sleep(0.1)
    return proc, disp


def stop(proc):
    if proc:
        proc.terminate()
        proc.wait()
