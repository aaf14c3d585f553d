"""The one configuration system: ``OUTLAYER_*`` environment variables over a TOML file.

Precedence (highest first): environment variables, the TOML file, built-in defaults. The file
is ``$OUTLAYER_CONFIG`` when set, else ``./outlayer.toml`` when present. Nested settings use a
double underscore: ``[executor] pool_size = 4`` in the file is ``OUTLAYER_EXECUTOR__POOL_SIZE=4``
in the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from outlayer.errors import ErrorCode, OutlayerError

ENV_PREFIX = "OUTLAYER_"
CONFIG_FILE_ENV = "OUTLAYER_CONFIG"
DEFAULT_CONFIG_FILE = Path("outlayer.toml")

MIB = 1024 * 1024


class LimitSettings(BaseModel):
    """Defaults applied when a request leaves a limit unset, and the hard caps."""

    model_config = ConfigDict(extra="forbid")

    default_instructions: int = Field(1_000_000_000, ge=1)
    max_instructions: int = Field(100_000_000_000, ge=1)
    default_memory_mb: int = Field(128, ge=1)
    max_memory_mb: int = Field(1024, ge=1, le=4096)
    default_execution_seconds: float = Field(60.0, gt=0)
    max_execution_seconds: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _defaults_within_caps(self) -> LimitSettings:
        pairs = [
            ("default_instructions", "max_instructions"),
            ("default_memory_mb", "max_memory_mb"),
            ("default_execution_seconds", "max_execution_seconds"),
        ]
        for default, cap in pairs:
            if getattr(self, default) > getattr(self, cap):
                raise ValueError(f"limits.{default} must not exceed limits.{cap}")
        return self


class GuestCapabilitySettings(BaseModel):
    """What a guest may ask of the platform through its host functions (docs/guest-abi.md), per
    run. Each is off unless the module imports it (and, for fetch, declares its hosts)."""

    model_config = ConfigDict(extra="forbid")

    max_host_calls: int = Field(1000, ge=0)
    storage_max_bytes_per_run: int = Field(4 * MIB, ge=0)  # read and written
    random_max_calls: int = Field(16, ge=0)
    # NEAR reads (view, view_account, block) through this RPC endpoint (empty: reads are off).
    chain_rpc: str = ""
    chain_max_calls: int = Field(50, ge=0)
    chain_max_bytes: int = Field(4 * MIB, ge=0)
    chain_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # Outbound HTTPS to the hosts a module declares (its `outlayer.fetch` section).
    fetch_enabled: bool = True
    fetch_max_requests: int = Field(10, ge=0)
    fetch_max_bytes: int = Field(4 * MIB, ge=0)  # sent and received
    fetch_timeout_seconds: float = Field(10.0, gt=0, le=60)
    fetch_max_redirects: int = Field(3, ge=0, le=10)
    # Networks exempt from the private-address guard: for a test or development server only
    # (e.g. ["127.0.0.1/32"]); never in production.
    fetch_allow_networks: list[str] = []
    fetch_ca_file: Path | None = None  # the CA bundle fetches trust (default: certifi's)

    @model_validator(mode="after")
    def _networks_parse(self) -> GuestCapabilitySettings:
        import ipaddress  # only here: the sandbox's workers never load settings

        for network in self.fetch_allow_networks:
            try:
                ipaddress.ip_network(network)
            except ValueError:
                raise ValueError(
                    f"executor.guest.fetch_allow_networks: {network!r} is not a network "
                    "such as 127.0.0.1/32"
                ) from None
        return self


class ExecutorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:50061"
    # Pre-started single-use processes kept ready; each runs exactly one execution.
    pool_size: int = Field(2, ge=1, le=64)
    max_concurrent: int = Field(2, ge=1, le=256)
    max_output_bytes: int = Field(1 * MIB, ge=1)
    max_log_bytes: int = Field(64 * 1024, ge=0)
    # Time a worker process gets after the wall-clock limit before it is killed hard.
    kill_grace_seconds: float = Field(0.5, gt=0, le=10)
    # Compiling a module is not the guest's time, but it is bounded too.
    compile_timeout_seconds: float = Field(60.0, gt=0)
    module_cache_dir: Path = Path.home() / ".cache" / "outlayer" / "modules"
    # Where to lease jobs from (empty: serve Execute only, lease nothing) and with which token.
    coordinator: str = ""
    worker_token_file: Path | None = None
    # The keystore to fetch jobs' secrets from, over the attested channel (empty: jobs that name
    # secrets fail with a clear error).
    keystore: str = ""
    # Where to fetch a module missing from the local WASM store (empty: only the local store).
    compiler: str = ""
    guest: GuestCapabilitySettings = GuestCapabilitySettings()


class CoordinatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:50060"
    wasm_store_dir: Path = Path.home() / ".local" / "share" / "outlayer" / "wasm"
    # The compiler service that turns jobs' code sources into modules (empty: jobs naming a
    # code source fail with a compilation_error saying no compiler is configured).
    compiler: str = ""
    # A worker that stops heartbeating loses its job after this long; the job is retried.
    lease_seconds: float = Field(30.0, gt=0, le=3600)
    max_attempts: int = Field(3, ge=1, le=20)
    # HTTPS calls are priced like on-chain ones: base + instructions x per_instruction + ms x
    # per_ms, in yoctoNEAR (the contract's defaults).
    base_fee_yocto: int = Field(10**21, ge=0)
    per_instruction_yocto: int = Field(10**6, ge=0)
    per_ms_yocto: int = Field(10**19, ge=0)
    # A build the call caused (compile, then run) costs its CPU time, at most max_compile_ms,
    # once: never again for the cached module. The hold covers it for a code source.
    per_compile_ms_yocto: int = Field(10**18, ge=0)
    max_compile_ms: int = Field(300_000, ge=0)
    # Keys holding a stablecoin pay in its smallest unit (10^-6 USD for USDC), the same unit as
    # X-Attached-Deposit and attached_usd on chain: base + instructions x
    # per_million_instructions / 10^6 + ms x per_second / 1000 (+ a build's compile ms x
    # per_compile_second / 1000), rounded up. Defaults: $0.0001 a call, $0.000001 per million
    # instructions, $0.0001 per second of wall clock and of building.
    usd_base_fee: int = Field(100, ge=0)
    usd_per_million_instructions: int = Field(1, ge=0)
    usd_per_second: int = Field(100, ge=0)
    usd_per_compile_second: int = Field(100, ge=0)
    # Guests' storage (issue #15), per project: what one store may hold in all (every caller's
    # space counted), and the largest key and value.
    storage_max_bytes: int = Field(10 * 1024 * 1024, ge=0)
    storage_max_keys: int = Field(10_000, ge=0)
    storage_max_value_bytes: int = Field(64 * 1024, ge=1)
    # The operators' API (system_hidden_logs); it listens on loopback only.
    admin_listen: str = "127.0.0.1:50068"
    # Projects and payment keys are made on chain by their owners (mirrored by the indexer);
    # the operator may also make them off chain with this token (header X-Admin-Token);
    # empty: that override is disabled.
    admin_token: str = ""


class IndexerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # gRPC health checking and reflection (the indexer serves no API of its own).
    listen: str = "127.0.0.1:50062"
    # NEAR JSON-RPC: blocks are followed and results settled through it (localnet by default).
    rpc_url: str = "http://127.0.0.1:3030"
    contract_id: str = "outlayer.localnet"
    network_id: str = "localnet"
    # The operator's NEAR key (a worker registered on the contract) signs resolve_execution.
    operator_key_file: Path | None = None
    coordinator: str = "127.0.0.1:50060"
    state_dir: Path = Path.home() / ".local" / "share" / "outlayer" / "indexer"
    # Where to start when there is no cursor yet (default: the current head).
    start_height: int | None = None
    poll_seconds: float = Field(0.5, gt=0)
    # The chain's block time, for NEAR's yield window (a yielded request is resumed within 200
    # blocks): compile-then-run waits for a build only while the job can still run and be
    # resolved inside it. Err on the short side (localnet's dev stack: 0.2).
    block_seconds: float = Field(1.0, gt=0)
    # With a PostgreSQL database_url, indexers run as one leader and standbys: a PostgreSQL
    # advisory lock is the lease and the cursor is a row in that database (a file in state_dir
    # otherwise). A standby tries to take the lease every leader_retry_seconds; the leader checks
    # its session every leader_check_seconds and stops at once when it is gone.
    leader_retry_seconds: float = Field(3.0, gt=0, le=300)
    leader_check_seconds: float = Field(1.0, gt=0, le=60)
    # What HTTPS callers paid with on-chain payment keys is settled on chain
    # (settle_https_usage, signed by the operator key, which must be the contract's operator)
    # this often, in batches of at most settle_https_batch charges; 0: never.
    settle_https_seconds: float = Field(30.0, ge=0)
    settle_https_batch: int = Field(40, ge=1, le=40)


class EdgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:8443"
    coordinator: str = "127.0.0.1:50060"
    # Serves the keystore's public endpoints (repository keys, attestation); empty: not served.
    keystore: str = ""
    # What one client may hold: a request body, time to finish a TLS handshake, to send a
    # request's headers, then its body; an idle keep-alive connection is closed after
    # keep_alive_seconds.
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    tls_handshake_timeout_seconds: float = Field(10.0, gt=0)
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(10.0, gt=0)
    keep_alive_seconds: float = Field(15.0, gt=0)
    # Requests being served at once (more answer 503 with Retry-After), and open connections.
    max_concurrent_requests: int = Field(256, ge=1)
    max_connections: int = Field(1024, ge=1)
    # Requests per second one client IP, and one payment key (X-Payment-Key), may send on
    # average, with bursts of rate_burst_seconds' worth; more answer 429 with Retry-After.
    # Per edge replica. 0: no limit.
    rate_per_ip: float = Field(200.0, ge=0)
    rate_per_key: float = Field(100.0, ge=0)
    rate_burst_seconds: float = Field(2.0, gt=0)
    # A folder of static files (the built dashboard, build/dashboard) served at /dashboard/;
    # empty: not served.
    dashboard_dir: str = ""


class RegistrySettings(BaseModel):
    """Where the fetch phase downloads dependencies (nothing else is reachable from it)."""

    model_config = ConfigDict(extra="forbid")

    # Cargo's sparse index protocol ("sparse+https://..."); the dev stack serves a mirror of
    # Debian's packaged crates (devtools/crate_mirror.py) and points this at it.
    crates: str = "sparse+https://index.crates.io/"
    # An npm registry URL; empty: the registry npm itself is configured with on this host.
    npm: str = ""
    # A Go module proxy (GOPROXY protocol; file:// works for an on-disk one).
    go_proxy: str = "https://proxy.golang.org"
    max_package_mb: int = Field(50, ge=1)  # one downloaded archive
    max_fetch_mb: int = Field(512, ge=1)  # everything one build downloads
    max_packages: int = Field(1500, ge=1)
    fetch_timeout_seconds: float = Field(300.0, gt=0)  # the whole fetch phase


class CompilerSettings(BaseModel):
    """The compiler service: fetch a source, build it in a sandbox, cache the module."""

    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:50063"
    # Content-addressed: <sha256>.wasm + <sha256>.json, and sources/ (source -> checksum). The
    # same layout as the WASM store, so one folder can serve both on one machine.
    cache_dir: Path = Path.home() / ".local" / "share" / "outlayer" / "wasm"
    # Scratch space for fetching and building (one folder per build, removed afterwards).
    work_dir: Path = Path.home() / ".cache" / "outlayer" / "builds"
    # "docker": one container per build (Docker Engine); "bwrap": bubblewrap, for hosts
    # without Docker. Both: no network, limits, read-only root, an unprivileged user.
    sandbox: Literal["docker", "bwrap"] = "docker"
    # The build image (see deploy/compiler/); setup imports a minimal one that mounts the host's
    # toolchains (toolchain_mounts) read-only.
    docker_image: str = "outlayer-build:1"
    toolchain_mounts: list[Path] = [Path("/usr"), Path("/etc/alternatives")]
    # Origins besides https://github.com whose repositories may be built, e.g.
    # "http://git.internal:8080" (scheme://host[:port]).
    allowed_hosts: list[str] = []
    # Fetch from a mirror instead: {"https://github.com": "http://mirror.internal"}; sources
    # keep their public name.
    git_mirrors: dict[str, str] = {}
    fetch_timeout_seconds: float = Field(120.0, gt=0)
    build_timeout_seconds: float = Field(600.0, gt=0)
    build_memory_mb: int = Field(2048, ge=64)
    build_cpus: float = Field(2.0, gt=0)
    build_pids: int = Field(512, ge=16)
    max_source_mb: int = Field(256, ge=1)
    max_wasm_mb: int = Field(64, ge=1)
    max_concurrent_builds: int = Field(2, ge=1, le=64)
    # The longest a Compile call may wait for a build (compile-then-run: the coordinator asks
    # to wait when the build's estimate fits the request's window).
    max_compile_wait_seconds: float = Field(150.0, ge=0)
    # How long a branch or tag's resolution to a commit is reused.
    ref_ttl_seconds: float = Field(60.0, ge=0)
    # How long a build that failed for good (a compile error, not a network blip) is answered
    # from memory instead of being rebuilt.
    failure_ttl_seconds: float = Field(600.0, ge=0)
    # Eviction: LRU above either threshold; unused entries by retention tier (see docs).
    cache_max_mb: int = Field(10 * 1024, ge=1)
    cache_min_free_disk_percent: float = Field(10.0, ge=0, lt=100)
    eviction_interval_seconds: float = Field(3600.0, gt=0)
    registries: RegistrySettings = RegistrySettings()
    # A Cargo.lock pinning versions the registry lacks (a mirror is always behind) is resolved
    # again against it; the build's metadata then says so. On in development only.
    allow_lock_reresolution: bool = False
    # Downloaded archives are kept here by checksum, so a rebuild fetches nothing again.
    package_cache_dir: Path = Path.home() / ".cache" / "outlayer" / "packages"


class KeystoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:50064"
    # "tdx": the master secret and quotes come from the dstack guest agent (a TDX VM);
    # "development": a master secret in a file and a labelled development attestation.
    mode: Literal["tdx", "development"] = "development"
    master_key_file: Path = Path.home() / ".outlayer" / "keystore-master.key"
    # The dstack guest agent: a unix socket path or an http:// URL (empty: dstack's default).
    dstack_endpoint: str = ""
    # Intel collateral for the quote: a JSON file (as dcap-qvl writes it) or a PCCS to ask.
    collateral_file: Path | None = None
    pccs_url: str = "https://api.trustedservices.intel.com"
    # Where stored secrets and balances are read (view calls only).
    rpc_url: str = "http://127.0.0.1:3030"
    contract_id: str = "outlayer.localnet"
    # The register contract (contract/register/) this keystore is registered in (`outlayer
    # keystore register`): its public keys say so, for clients to check it there.
    register_contract: str = ""


class AttestationSettings(BaseModel):
    """What a client of the keystore (executor, edge) accepts as proof."""

    model_config = ConfigDict(extra="forbid")

    # The allow-list of measurements (MRTD, RTMR0-3) a TDX keystore must match.
    measurements_file: Path | None = None
    # Development keystores have no TDX; accept their labelled attestation (never in production).
    accept_development: bool = False
    # Verify collateral as of this UNIX time instead of now (replaying a recorded quote).
    verify_at: int | None = None


class TelemetrySettings(BaseModel):
    """OpenTelemetry: traces and metrics are always recorded; where they go is configured."""

    model_config = ConfigDict(extra="forbid")

    # e.g. http://127.0.0.1:4317 (an OpenTelemetry Collector); empty: not exported over OTLP.
    otlp_endpoint: str = ""
    # Print spans and metrics to stderr (development only).
    console: bool = False
    metric_interval_seconds: float = Field(15.0, gt=0)
    # Services' own log lines on stderr (libraries' only from WARNING).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class TlsSettings(BaseModel):
    """mTLS between services. With only ``dir`` set, a service uses ``<dir>/ca.pem`` and
    ``<dir>/<service>.pem``/``.key`` (what ``outlayer dev certs`` writes); the ``*_file``
    settings name the files explicitly for production."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    dir: Path = Path.home() / ".outlayer" / "pki"
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def default_database_url() -> str:
    return f"sqlite:///{Path.home() / '.local' / 'share' / 'outlayer' / 'coordinator.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    # SQLite by default; PostgreSQL with e.g. postgresql+psycopg://user@host:5432/outlayer
    # (environment: OUTLAYER_DATABASE_URL).
    database_url: str = Field(default_factory=default_database_url)
    # Keep raw build/run output (system_hidden_logs) for operators to debug with. Off by
    # default; the environment variable is SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG, as the spec names it.
    save_system_hidden_logs_to_debug: bool = Field(
        False,
        validation_alias=AliasChoices(
            "save_system_hidden_logs_to_debug",
            "SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG",
            "OUTLAYER_SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG",
        ),
    )
    limits: LimitSettings = LimitSettings()
    executor: ExecutorSettings = ExecutorSettings()
    coordinator: CoordinatorSettings = CoordinatorSettings()
    indexer: IndexerSettings = IndexerSettings()
    edge: EdgeSettings = EdgeSettings()
    keystore: KeystoreSettings = KeystoreSettings()
    compiler: CompilerSettings = CompilerSettings()
    attestation: AttestationSettings = AttestationSettings()
    tls: TlsSettings = TlsSettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file_path()),
        )


def config_file_path() -> Path | None:
    explicit = os.environ.get(CONFIG_FILE_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise OutlayerError(
                ErrorCode.CONFIGURATION,
                f"{CONFIG_FILE_ENV} points at {path}, which is not a file; "
                "create it or unset the variable",
            )
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Reads the configuration; a bad value raises a CONFIGURATION error naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            dotted = ".".join(str(part) for part in err["loc"])
            env_name = ENV_PREFIX + "__".join(str(part) for part in err["loc"]).upper()
            problems.append(f"{dotted} (env {env_name}): {err['msg']}")
        raise OutlayerError(
            ErrorCode.CONFIGURATION, "invalid configuration: " + "; ".join(problems)
        ) from None
