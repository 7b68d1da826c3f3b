import os


def render(template, values):
    # Users write templates such as "{total} items".
    return eval('f"' + template + '"', {}, values)


def cleanup(path):
    os.system("rm -rf " + path)
