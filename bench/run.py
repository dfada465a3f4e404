"""Benchmark the IdP under granian over TLS: refresh_token grant and userinfo, Bearer or DPoP.

    .venv/bin/python bench/run.py [--duration 15] [--warmup 3] [--concurrency 1,8,32] ...

The database is DATABASE_URL when set (scripts/with-postgres sets one), else a fresh SQLite
file var/bench.sqlite3. The IdP runs as `make serve` runs it (granian, TLS with our CA's
certificate, DEBUG off), minus the access log. Each virtual user gets its own grant through
a real sign-in, consent and code + PKCE exchange, then follows its own rotating refresh
token chain. The load generator is bench/loadgen.mjs (Node, built-in https only); before
the IdP it is aimed at a trivial responder, whose figure is the generator's ceiling.

Unless --no-reference, the same load is run, window by window after ours, against the
reference (bench/reference.py: panva's oidc-provider under Node.js, in memory), and our rows
carry the ratio ours / reference of requests/s and of server CPU per request. The DPoP
scenarios (refresh-dpop, userinfo-dpop: a fresh ES256 proof per request, tokens bound to each
user's key) run against ours only: beside refresh and userinfo they show what a proof costs.
So does healthz (GET /healthz, the cheapest Django view): the floor of what serving a request
through granian, config/rsgi.py and Django costs before any endpoint's own work.

Prints a table and writes everything to bench/results/<time>-<database>.json.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import reference

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
CLIENT_ID = "bench-cli"
REDIRECT_URI = "https://127.0.0.1:9/"  # registered, never followed
USERNAME = "bench"
PASSWORD = "bench password, not a secret"  # noqa: S105 (a throwaway database's user)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REFERENCE_NAME = "oidc-provider"  # the reference's rows, in the database column


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PORT = _free_port()
SITE_URL = f"https://localhost:{PORT}"

# The benchmarked server and this script read the same settings, so set them before Django.
os.environ.setdefault("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'bench.sqlite3'}")
os.environ.setdefault("DJANGO_CONN_MAX_AGE", "60")  # as Procfile.serve (make serve) sets it
os.environ.update(
    OIDC_SITE_URL=SITE_URL,
    RECEIVER_URL=REDIRECT_URI,
    DJANGO_DEBUG="0",
    DJANGO_SETTINGS_MODULE="config.settings",
    OIDC_TOKEN_EXPIRE="3600",  # noqa: S106 (a lifetime: access tokens outlive the whole run)
    DJANGO_LOG_LEVEL="WARNING",
)
sys.path.insert(0, str(BASE_DIR))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 15))
    )
    parser.add_argument("--warmup", type=float, default=float(os.environ.get("BENCH_WARMUP", 3)))
    parser.add_argument(
        "--concurrency", default=os.environ.get("BENCH_CONCURRENCY", "1,8,32"), help="e.g. 1,8,32"
    )
    parser.add_argument("--scenarios", default="refresh,userinfo,refresh-dpop,userinfo-dpop")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("SERVE_THREADS", 2)),
        help="Python threads per worker that run Django (SERVE_THREADS)",
    )
    parser.add_argument("--label", default="", help="a name for this run in the JSON file")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the trivial responder")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the oidc-provider reference"
    )
    parser.add_argument(
        "--id-token-alg",
        choices=["RS256", "ES256"],
        default="RS256",
        help="the bench client's jwt_alg: how its ID tokens are signed (default: %(default)s)",
    )
    parser.add_argument(
        "--profile",
        metavar="SCENARIO@C",
        help="py-spy the workers during one measured window, e.g. refresh@32 (make bench deps)",
    )
    return parser.parse_args()


# --- CPU accounting from /proc ------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, own utime+stime, reaped children's cutime+cstime) in ticks, or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # from field 3 (state) on: proc(5)
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _all_stats() -> dict[int, tuple[int, int, int]]:
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            stats[int(entry.name)] = stat
    return stats


@dataclass(frozen=True)
class CpuSample:
    server_ticks: int  # granian's main process and its workers
    database_ticks: int | None  # the PostgreSQL server and its backends (None: not ours/SQLite)


def _tree_ticks(stats: dict[int, tuple[int, int, int]], root: int) -> int:
    """CPU of a process and its children, those that exited included (e.g. a backend whose
    connection was closed), since the parent that reaped them is charged their time."""
    live = sum(own for pid, (ppid, own, _) in stats.items() if root in (pid, ppid))
    return live + (stats[root][2] if root in stats else 0)


def sample_cpu(master_pid: int, *, uses_database: bool = True) -> CpuSample:
    stats = _all_stats()
    postmaster = int(os.environ.get("POSTGRES_PID") or 0)  # set by scripts/with-postgres
    if not uses_database:  # the reference keeps its state in its own memory
        postmaster = 0
    return CpuSample(
        _tree_ticks(stats, master_pid), _tree_ticks(stats, postmaster) if postmaster else None
    )


# --- the server -----------------------------------------------------------------------------


def prepare_database(id_token_alg: str = "RS256") -> str:  # noqa: S107 (an algorithm name)
    import django

    if os.environ["DATABASE_URL"].startswith("sqlite:"):
        for leftover in (BASE_DIR / "var").glob("bench.sqlite3*"):
            leftover.unlink()
        (BASE_DIR / "var").mkdir(exist_ok=True)
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from apps.demo import certs
    from apps.idp import services

    call_command("migrate", interactive=False, verbosity=0)
    services.ensure_signing_keys()
    services.seed_public_client(CLIENT_ID, redirect_uri=REDIRECT_URI, jwt_alg=id_token_alg)
    user, _ = get_user_model().objects.get_or_create(
        username=USERNAME, defaults={"email": "bench@example.com", "first_name": "Bench"}
    )
    user.set_password(PASSWORD)
    user.save()
    certs.ensure_certificates(settings.CERTS_DIR)
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


@contextmanager
def serving(args: argparse.Namespace) -> Iterator[subprocess.Popen]:
    """The IdP as Procfile.serve starts it, on this run's port, without the access log."""
    from django.conf import settings

    from config.serving import granian_command

    command = [
        *granian_command(
            host="127.0.0.1",
            port=PORT,
            workers=args.workers,
            certificate=str(settings.CERTS_DIR / "server.pem"),
            key=str(settings.CERTS_DIR / "server-key.pem"),
        ),
        "--log-config=config/granian-logging.json",
    ]
    log = RESULTS_DIR / "server.log"
    metrics_dir = RESULTS_DIR / "metrics"  # counted across workers, as under make serve
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "SERVE_THREADS": str(args.threads),
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until_serving(server, log)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def https_session():
    import requests
    from django.conf import settings

    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would replace our CA
    http.verify = str(settings.CERTS_DIR / "ca.pem")
    return http


def wait_until_serving(server: subprocess.Popen, log: Path) -> None:
    import requests

    with https_session() as http:
        for _ in range(150):
            if server.poll() is not None:
                sys.exit(f"the server exited:\n{log.read_text()}")
            try:
                http.get(f"{SITE_URL}/oidc/.well-known/openid-configuration", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
    sys.exit(f"the server did not answer:\n{log.read_text()}")


def is_dpop(scenario: str) -> bool:
    return scenario.endswith("-dpop")


# Scenarios the reference has no endpoint for: they run against ours alone.
WITHOUT_REFERENCE = frozenset({"healthz"})


def dpop_proof(private_jwk: dict, method: str, url: str, access_token: str = "") -> str:
    """A DPoP proof (RFC 9449 §4.2) by the user's key; with `ath` for `access_token`."""
    import base64
    import hashlib

    import jwt

    key = jwt.PyJWK(private_jwk, algorithm="ES256").key
    public = {name: private_jwk[name] for name in ("kty", "crv", "x", "y")}
    claims = {"jti": os.urandom(16).hex(), "htm": method, "htu": url, "iat": int(time.time())}
    if access_token:
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public})


def dpop_exchange_proof(private_jwk: dict) -> str:
    """A proof for a request to the token endpoint (the code exchange, a refresh)."""
    return dpop_proof(private_jwk, "POST", f"{SITE_URL}/oidc/token")


def new_dpop_key() -> dict:
    """A P-256 private key as a JWK: loadgen.mjs signs each request's proof with it."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    return ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)


def seed_grants(count: int, *, dpop: bool = False) -> list[dict]:
    """One grant per virtual user, each through a real sign-in, consent and PKCE exchange.

    `dpop`: each user has its own key (`dpop_jwk`), and its grant and tokens are bound to it.
    """
    from apps.client import pkce
    from tests import flows

    grants = []
    with https_session() as http:
        flows.log_in(http, SITE_URL, USERNAME, PASSWORD)
        for _ in range(count):
            verifier = pkce.make_verifier()
            params = flows.authorize_params(CLIENT_ID, REDIRECT_URI, verifier)
            code = flows.consent(http, SITE_URL, params)["code"]
            user: dict = {}
            if dpop:
                user["dpop_jwk"] = new_dpop_key()
                http.headers["DPoP"] = dpop_exchange_proof(user["dpop_jwk"])
            answer = flows.exchange_code(
                http,
                SITE_URL,
                code=code,
                verifier=verifier,
                client_id=CLIENT_ID,
                redirect_uri=REDIRECT_URI,
            )
            http.headers.pop("DPoP", None)
            answer.raise_for_status()
            tokens = answer.json()
            if tokens["token_type"] != ("DPoP" if dpop else "Bearer"):
                sys.exit(f"the exchange gave {tokens['token_type']} tokens")
            user.update(refresh_token=tokens["refresh_token"], access_token=tokens["access_token"])
            grants.append(user)
    return grants


# --- one scenario ---------------------------------------------------------------------------


def run_load(
    config: dict,
    *,
    master_pid: int | None,
    profile_to: Path | None = None,
    uses_database: bool = True,
) -> tuple[dict, CpuSample | None]:
    """Run bench/loadgen.mjs; returns its result and the server CPU used in its window."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    loadgen = subprocess.Popen(
        ["node", str(BASE_DIR / "bench" / "loadgen.mjs"), handle.name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    before = after = None
    profiler = None
    for line in loadgen.stderr:
        if line.strip() == "measure-start" and master_pid:
            before = sample_cpu(master_pid, uses_database=uses_database)
            if profile_to:
                profiler = start_profiler(master_pid, config["durationSeconds"], profile_to)
        elif line.strip() == "measure-end" and master_pid:
            after = sample_cpu(master_pid, uses_database=uses_database)
        elif line.strip() not in ("measure-start", "measure-end"):
            sys.stderr.write(line)
    output = loadgen.stdout.read()
    loadgen.wait()
    Path(handle.name).unlink()
    if profiler:
        profiler.wait()
    if loadgen.returncode != 0:
        sys.exit(f"load generator failed ({loadgen.returncode})")
    used = None
    if before and after:
        database = None
        if after.database_ticks is not None and before.database_ticks is not None:
            database = after.database_ticks - before.database_ticks
        used = CpuSample(after.server_ticks - before.server_ticks, database)
    return json.loads(output), used


def start_profiler(master_pid: int, seconds: float, output: Path) -> subprocess.Popen:
    py_spy = BASE_DIR / ".venv" / "bin" / "py-spy"
    if not py_spy.exists():
        sys.exit("py-spy is missing: make .venv/.bench")
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(master_pid),
            "--subprocesses",
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: where the CPU goes, not who waits
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ms_per_request(ticks: int, requests: int) -> float | None:
    return ticks * 1000 / CLOCK_TICKS / requests if requests else None


def row(database: str, result: dict, used: CpuSample | None) -> dict:
    requests = result["requests"]
    database_cpu = None
    if used and used.database_ticks is not None:
        database_cpu = ms_per_request(used.database_ticks, requests)
    return {
        "database": database,
        "scenario": result["scenario"],
        "concurrency": result["concurrency"],
        "requests": requests,
        "requests_per_second": round(result["requestsPerSecond"], 1),
        "latency_ms": {k: v and round(v, 2) for k, v in result["latencyMs"].items()},
        "errors": result["errors"],
        "server_cpu_ms_per_request": used and ms_per_request(used.server_ticks, requests),
        "database_cpu_ms_per_request": database_cpu,
        "generator_cpu_ms_per_request": result["generatorCpuMsPerRequest"],
    }


def with_ratios(ours: dict, theirs: dict) -> dict:
    """Our row with ours / reference for requests/s and server CPU per request."""

    def ratio(key: str) -> float | None:
        if ours[key] is None or not theirs[key]:
            return None
        return round(ours[key] / theirs[key], 2)

    return {
        **ours,
        "ratio_requests_per_second": ratio("requests_per_second"),
        "ratio_server_cpu_ms_per_request": ratio("server_cpu_ms_per_request"),
    }


def format_table(rows: list[dict]) -> str:
    def number(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    header = (
        "| database | scenario | C | req/s | p50 ms | p90 ms | p99 ms | errors "
        "| server CPU ms/req | db CPU ms/req | generator CPU ms/req "
        "| ours / ref req/s | ours / ref CPU |"
    )
    lines = [header, "|" + " --- |" * 13]
    for r in rows:
        errors = ", ".join(f"{kind}: {n}" for kind, n in r["errors"].items()) or "0"
        lat = r["latency_ms"]
        lines.append(
            f"| {r['database']} | {r['scenario']} | {r['concurrency']} "
            f"| {r['requests_per_second']:.0f} | {number(lat['p50'], 1)} | {number(lat['p90'], 1)} "
            f"| {number(lat['p99'], 1)} | {errors} | {number(r['server_cpu_ms_per_request'])} "
            f"| {number(r['database_cpu_ms_per_request'])} "
            f"| {number(r['generator_cpu_ms_per_request'], 3)} "
            f"| {number(r.get('ratio_requests_per_second'))} "
            f"| {number(r.get('ratio_server_cpu_ms_per_request'))} |"
        )
    return "\n".join(lines)


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor(),
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1),
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "load_average_1_5_15": os.getloadavg(),  # other work on the machine skews every figure
    }


def ceiling(args: argparse.Namespace) -> dict:
    """The generator against a trivial TLS responder: requests/s it can drive at most."""
    from django.conf import settings

    responder = subprocess.Popen(
        [
            "node",
            str(BASE_DIR / "bench" / "responder.mjs"),
            str(settings.CERTS_DIR / "server.pem"),
            str(settings.CERTS_DIR / "server-key.pem"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(responder.stdout.readline())
        concurrency = max(int(c) for c in args.concurrency.split(","))
        result, _ = run_load(
            {
                "url": f"https://localhost:{port}/",
                "scenario": "trivial",
                "concurrency": concurrency,
                "warmupSeconds": args.warmup,
                "durationSeconds": args.duration,
                "caFile": str(settings.CERTS_DIR / "ca.pem"),
                "users": [{}],
            },
            master_pid=None,
        )
    finally:
        responder.terminate()
        responder.wait()
    return row("-", result, None)


def main() -> None:
    args = parse_args()
    if not shutil.which("node"):
        sys.exit("The load generator needs Node.js (node 18 or newer) on PATH.")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    database = prepare_database(args.id_token_alg)
    from django.conf import settings

    concurrencies = [int(c) for c in args.concurrency.split(",")]
    scenarios = args.scenarios.split(",")
    rows = []
    if not args.no_ceiling:
        rows.append(ceiling(args))
        print(f"generator ceiling (trivial TLS responder): {rows[-1]['requests_per_second']} req/s")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    reference_version = None if args.no_reference else reference.version()
    ca_file = settings.CERTS_DIR / "ca.pem"
    with ExitStack() as servers:
        # Both servers up together (the idle one costs nothing), each window of ours followed
        # by the same window on the reference: the machine's drift hits both alike.
        server = servers.enter_context(serving(args))
        most = max(concurrencies)
        ours = (database, f"{SITE_URL}/oidc", server, seed_grants(most))
        targets = [ours]
        if reference_version:
            port = _free_port()
            node = servers.enter_context(
                reference.serving(port, settings.CERTS_DIR, RESULTS_DIR / "reference.log")
            )
            url = f"https://localhost:{port}"
            targets.append(
                (REFERENCE_NAME, url, node, reference.seed_grants(url, ca_file, max(concurrencies)))
            )
        dpop_targets = []
        if any(is_dpop(scenario) for scenario in scenarios):
            dpop_targets = [(*ours[:3], seed_grants(most, dpop=True))]
        for scenario in scenarios:
            for concurrency in concurrencies:
                window = []
                if is_dpop(scenario):
                    window_targets = dpop_targets
                elif scenario in WITHOUT_REFERENCE:
                    window_targets = targets[:1]
                else:
                    window_targets = targets
                for name, url, process, users in window_targets:
                    profile_to = None
                    if args.profile == f"{scenario}@{concurrency}" and name == database:
                        profile_to = RESULTS_DIR / f"{stamp}-{name}-{scenario}-{concurrency}.txt"
                    result, used = run_load(
                        {
                            "url": url,
                            "scenario": scenario,
                            "concurrency": concurrency,
                            "warmupSeconds": args.warmup,
                            "durationSeconds": args.duration,
                            "caFile": str(ca_file),
                            "clientId": CLIENT_ID,
                            "users": users,
                        },
                        master_pid=process.pid,
                        profile_to=profile_to,
                        uses_database=name != REFERENCE_NAME,
                    )
                    users[:concurrency] = result["users"]  # the chains moved on
                    window.append(row(name, result, used))
                if len(window) == 2:
                    window[0] = with_ratios(*window)
                rows.extend(window)
                print("\n".join(format_table(window).splitlines()[2:]), flush=True)
    report = {
        "label": args.label,
        "time": stamp,
        "machine": machine(),
        "server": {
            "software": f"granian {importlib.metadata.version('granian')}",
            "workers": args.workers,
            "threads": args.threads,
            "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
            "id_token_alg": args.id_token_alg,
        },
        "reference": reference_version
        and {"software": f"oidc-provider {reference_version}", "storage": "in memory"},
        "duration_seconds": args.duration,
        "warmup_seconds": args.warmup,
        "rows": rows,
    }
    out = RESULTS_DIR / f"{stamp}-{database}{'-' + args.label if args.label else ''}.json"
    out.write_text(json.dumps(report, indent=2))
    print()
    print(format_table(rows))
    print(f"\n{json.dumps(report['machine'])}\nserver: {json.dumps(report['server'])}")
    if report["reference"]:
        print(f"reference: {json.dumps(report['reference'])}")
    print(f"written to {out.relative_to(BASE_DIR)}")


if __name__ == "__main__":
    main()
