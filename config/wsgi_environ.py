"""A request's WSGI environ (PEP 3333) from granian's RSGI scope and its body, read whole.

config.rsgi hands it to Django; config.fast_lane builds it for the token endpoint's view.
"""

import sys
from io import BytesIO

# What every request's environ shares (PEP 3333), as granian's WSGI interface sets it.
BASE_ENVIRON = {
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SCRIPT_NAME": "",
    "SERVER_SOFTWARE": "Granian",
    "wsgi.errors": sys.stderr,
    "wsgi.input_terminated": True,
    "wsgi.multiprocess": True,
    "wsgi.multithread": True,
    "wsgi.run_once": False,
    "wsgi.version": (1, 0),
}


def _host(address: str) -> str:
    """The address of "ip:port" or "[ipv6]:port", as WSGI's REMOTE_ADDR spells it."""
    return address.rsplit(":", 1)[0].strip("[]")


def build_environ(scope, body: bytes) -> dict:
    """The WSGI environ granian's WSGI interface would give the request, with `body` read."""
    server_host, _, server_port = scope.server.rpartition(":")
    environ = {
        **BASE_ENVIRON,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "SERVER_NAME": server_host.strip("[]"),
        "SERVER_PORT": server_port,
        "REMOTE_ADDR": _host(scope.client),
        "REQUEST_METHOD": scope.method,
        # PEP 3333: the path's bytes, each as one latin-1 character (Django decodes UTF-8).
        "PATH_INFO": scope.path.encode().decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": BytesIO(body),
    }
    headers = scope.headers
    for name in headers.keys():
        values = headers.get_all(name)
        if name == "content-type":
            environ["CONTENT_TYPE"] = values[0]
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = values[0]
        else:
            joiner = "; " if name == "cookie" else ","  # cookies cannot be joined by commas
            environ["HTTP_" + name.upper().replace("-", "_")] = joiner.join(values)
    if body and "CONTENT_LENGTH" not in environ:  # a chunked body: Django reads CONTENT_LENGTH
        environ["CONTENT_LENGTH"] = str(len(body))
    if "HTTP_HOST" not in environ and scope.authority:  # HTTP/2's :authority
        environ["HTTP_HOST"] = scope.authority
    return environ
