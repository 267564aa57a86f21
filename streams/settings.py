"""Process configuration from `TIERSTREAM_*` environment variables (pydantic-settings).

Built once at start-up by each command; the domain never sees it (it receives the policy).
Nested groups use a double underscore: `TIERSTREAM_KAFKA__SASL_PASSWORD`. The two most used
addresses also have flat names, `TIERSTREAM_KAFKA_BOOTSTRAP` and `TIERSTREAM_REDIS_URL`,
which is what `scripts/infra` writes.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.access import AccessFileError, load_grants
from tiering.policy import Policy
from tiering.value import ModelFileError, load_model

__all__ = [
    "AccessSettings",
    "Clock",
    "ConfigError",
    "EmailSettings",
    "KafkaSettings",
    "NotifierSettings",
    "RedisSettings",
    "Settings",
    "TopicSettings",
    "WebSettings",
    "WebhookSettings",
    "load_settings",
    "with_policy_value_model",
]


class ConfigError(Exception):
    """The configuration is invalid; the message names the variable and what is wrong."""


class Clock(StrEnum):
    """How stream time moves: with the wall clock too (live) or by event time alone (replays)."""

    WALL = "wall"
    EVENT = "event"


class KafkaSettings(BaseModel):
    """How to reach Kafka. Credentials are secrets and never printed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap: str = Field(default="127.0.0.1:9092", min_length=3)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "security_protocol SASL_* needs sasl_mechanism, sasl_username and sasl_password"
            )
        return self


class RedisSettings(BaseModel):
    """How to reach Redis for the read model and the notifier's idempotency keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    ssl_ca_certs: Path | None = None
    # Every key we write starts with this, so several deployments (or tests) can share a Redis.
    key_prefix: str = Field(default="tierstream", pattern=r"^[A-Za-z0-9._-]+$")


class TopicSettings(BaseModel):
    """Topic names and sizing; the names are the contract in DESIGN.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    orders: str = "orders"
    feedback: str = "feedback"
    customers: str = "customers"
    tier_changes: str = "tier-changes"
    dead_letter: str = "tierstream-dlq"
    # Whether an input's records are keyed by customer_id, so Kafka's default partitioner
    # already puts each customer's events on the partition of its state (the fast path;
    # a record keyed otherwise goes to the DLQ as key_mismatch). False reads the input in a
    # stage-0 agent that re-keys it through `{app_id}-{input}-repartition`.
    orders_keyed_by_customer: bool = True
    feedback_keyed_by_customer: bool = True
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)


class WebSettings(BaseModel):
    """The worker's HTTP server (metrics, health, customer lookups)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535)
    # Where the other workers reach this one, to forward `GET /customers/{id}` to the owner
    # of the customer's partition (Faust's canonical URL). Default: `host`, or for a wildcard
    # `host` the address this machine's hostname resolves to (streams.worker.web.advertised_host).
    advertised_host: str | None = None


class AccessSettings(BaseModel):
    """Who may read customers and alerts over HTTP, and how much one SSE client may take.

    `tokens_file` is the JSON file of token digests and grants (streams/access.py); without
    one, `/customers/{id}` and `/alerts/stream` are open. Probes and `/metrics` are always
    open. The SSE limits bound what clients can hold: each open stream keeps one Redis
    connection in a blocking XREAD, and a resume (`Last-Event-ID`) replays at most
    `sse_replay_max` alerts, the newest ones, instead of the whole stream (up to
    TIERSTREAM_NOTIFIER__STREAM_MAXLEN).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens_file: Path | None = None
    # Open SSE streams per notifier process; one more is answered 503 with Retry-After.
    sse_max_clients: int = Field(default=100, ge=1, le=100_000)
    sse_replay_max: int = Field(default=1_000, ge=0, le=100_000)

    @field_validator("tokens_file")
    @classmethod
    def _readable_tokens(cls, path: Path | None) -> Path | None:
        # Fail at start-up naming the entry, not at the first request.
        if path is not None:
            try:
                load_grants(path)
            except AccessFileError as error:
                raise ValueError(str(error)) from None
        return path


class WebhookSettings(BaseModel):
    """Signed JSON POSTs of alerts; enabled when `url` is set (then `secret` is required).

    The url must be https: an alert names a customer and its tier, and the signature proves
    who sent it but does not hide it. Plain http only with `allow_plain_http` (a receiver on
    the same host or a trusted network, as the demo's and the tests' local sinks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(default=None, pattern=r"^https?://")
    secret: SecretStr | None = None
    format: Literal["json", "slack"] = "json"
    allow_plain_http: bool = False
    # Longer than a slow receiver takes: a request that times out may still have been
    # processed, and its retry is then a duplicate the receiver has to drop.
    timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _signed(self) -> WebhookSettings:
        if self.url and not self.secret:
            raise ValueError("a webhook url needs a secret to sign the requests with")
        return self

    @model_validator(mode="after")
    def _encrypted(self) -> WebhookSettings:
        if self.url and self.url.lower().startswith("http://") and not self.allow_plain_http:
            raise ValueError(
                "TIERSTREAM_NOTIFIER__WEBHOOK__URL is plain http: use https, or set "
                "TIERSTREAM_NOTIFIER__WEBHOOK__ALLOW_PLAIN_HTTP=true for a receiver on a "
                "trusted network"
            )
        return self


class EmailSettings(BaseModel):
    """Alert e-mails over SMTP; enabled when `host` is set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str | None = None
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    use_tls: bool = False
    start_tls: bool = False
    sender: str = Field(default="tierstream@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _password_only_over_tls(self) -> EmailSettings:
        # SMTP AUTH PLAIN/LOGIN sends the password base64-encoded, i.e. readable by anyone
        # on the path, unless the connection is TLS from the start or after STARTTLS.
        if self.password is not None and not (self.use_tls or self.start_tls):
            raise ValueError(
                "TIERSTREAM_NOTIFIER__EMAIL__PASSWORD is set but TLS is off: set "
                "TIERSTREAM_NOTIFIER__EMAIL__USE_TLS=true (implicit TLS, port 465) or "
                "TIERSTREAM_NOTIFIER__EMAIL__START_TLS=true (STARTTLS, port 587)"
            )
        return self


class NotifierSettings(BaseModel):
    """The notifier: routing fallback, channels, retries, rate limit and its HTTP server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str = Field(default="tierstream-notifier", pattern=r"^[A-Za-z0-9._-]+$")
    # Who gets alerts about customers with no known account manager.
    default_owner: str | None = Field(default=None, min_length=1, max_length=200)
    default_owner_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    webhook: WebhookSettings = WebhookSettings()
    email: EmailSettings = EmailSettings()
    redis_streams: bool = True
    stream_maxlen: int = Field(default=100_000, ge=100)
    read_model: bool = True
    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)
    dedupe_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # Per manager: at most `burst` messages at once, then `rate_per_minute`; the rest is digested.
    rate_per_minute: float = Field(default=6.0, gt=0)
    burst: int = Field(default=3, ge=1)
    digest_max: int = Field(default=50, ge=2)
    max_pending: int = Field(default=10_000, ge=1)
    # Sends in flight at once per push channel (deliveries run beside the consume loop).
    channel_concurrency: int = Field(default=8, ge=1, le=256)
    # `{prefix}:parked` keeps at most this many entries; the oldest are dropped (and counted).
    parked_max_entries: int = Field(default=10_000, ge=1)
    # Liveness: the consume loop must go round within this many seconds.
    health_window_seconds: float = Field(default=60.0, gt=0)
    # The notifier's own HTTP server (/alerts/stream, /metrics, /healthz, /readyz). Not
    # TIERSTREAM_WEB__*: that group is the worker's (a notifier beside a worker on one host
    # needs another port). Deployments set 0.0.0.0 so probes and Prometheus reach it.
    host: str = "127.0.0.1"
    port: int = Field(default=6067, ge=0, le=65535)


class Settings(BaseSettings):
    """Everything a tierstream process is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="TIERSTREAM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    app_id: str = Field(default="tierstream", pattern=r"^[A-Za-z0-9._-]+$")
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    topics: TopicSettings = TopicSettings()
    web: WebSettings = WebSettings()
    notifier: NotifierSettings = NotifierSettings()
    access: AccessSettings = AccessSettings()
    # Flat aliases for the two addresses everyone sets; they win over the nested form.
    kafka_bootstrap: str | None = None
    redis_url: SecretStr | None = None
    web_port: int | None = Field(default=None, ge=0, le=65535)
    policy: Path | None = None
    # The value model file `tierstream clv fit` writes: with one, each classification's
    # metrics carry p_alive, predicted_clv and expected_next_order_at; without, they are null.
    # Validated at start-up (a bad file stops the worker); afterwards the worker looks at the
    # file at most every clv_model_check_seconds and ranks with a changed, valid model from
    # the next boundary on (streams/worker/model_source.py; the refit CronJob replaces it).
    clv_model: Path | None = None
    clv_model_check_seconds: float = Field(default=60.0, gt=0, le=86_400)
    store: str = Field(default="rocksdb://", pattern=r"^(rocksdb|memory)://")
    processing_guarantee: Literal["exactly_once", "at_least_once"] = "exactly_once"
    clock: Clock = Clock.WALL
    # Classifications are made at boundaries every epoch_seconds of stream time.
    epoch_seconds: int = Field(default=60, ge=1, le=86_400)
    # Under the wall clock, stream time trails the wall clock by the lateness allowed to
    # events, advanced every tick, so idle partitions still close their boundaries.
    clock_lateness_seconds: float = Field(default=30.0, ge=0, le=86_400)
    clock_tick_seconds: float = Field(default=5.0, gt=0, le=3_600)
    data_dir: Path = Path(".tierstream-data")
    # Faust standby replicas per table partition: warm copies on other workers, so a failover
    # does not replay the whole changelog (k8s and compose run at least two workers).
    standby_replicas: int = Field(default=1, ge=0, le=16)
    # Stage 1 takes input records in batches of at most batch_records, or what arrived
    # within batch_seconds: each touched customer is read, applied and written once a batch.
    batch_records: int = Field(default=2_000, ge=1, le=100_000)
    batch_seconds: float = Field(default=0.05, gt=0, le=60)
    # How often processed records are committed (under exactly_once: their transactions, so
    # downstream read_committed consumers see outputs only then). Kafka Streams commits
    # every 100 ms under exactly_once; Faust's default of 2.8 s put seconds into every
    # event-to-TierChanged path (a summary commit, then the TierChanged commit).
    commit_interval_seconds: float = Field(default=0.1, gt=0, le=60)
    # How long the group waits for a silent worker (a crash, a SIGKILL, a partition) before
    # giving its partitions to the others: Kafka's session timeout. Heartbeats go every 3 s.
    session_timeout_seconds: float = Field(default=60.0, ge=10, le=300)
    # How often the worker samples consumer lag, table sizes and stream time for /metrics.
    metrics_interval_seconds: float = Field(default=5.0, gt=0, le=3_600)

    @field_validator("clv_model")
    @classmethod
    def _readable_model(cls, path: Path | None) -> Path | None:
        # Fail at start-up, naming the file and its bad field, not at the first boundary.
        if path is not None:
            try:
                load_model(path)
            except ModelFileError as error:
                raise ValueError(str(error)) from None
        return path

    @model_validator(mode="after")
    def _apply_flat_aliases(self) -> Settings:
        # Frozen models: rebuild the nested groups instead of mutating them.
        if self.kafka_bootstrap:
            object.__setattr__(
                self, "kafka", self.kafka.model_copy(update={"bootstrap": self.kafka_bootstrap})
            )
        if self.redis_url is not None:
            object.__setattr__(self, "redis", self.redis.model_copy(update={"url": self.redis_url}))
        if self.web_port is not None:
            object.__setattr__(self, "web", self.web.model_copy(update={"port": self.web_port}))
        return self


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment (and overrides), failing fast with the field named."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # keyword overrides by field name
    except ValidationError as error:
        problems = "; ".join(
            f"TIERSTREAM_{'__'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def with_policy_value_model(settings: Settings, policy: Policy) -> Settings:
    """Settings whose `clv_model` is the policy's `value_model` when TIERSTREAM_CLV_MODEL is
    unset; the file is validated as the variable's is (ConfigError naming the policy field)."""
    if settings.clv_model is not None or policy.value_model is None:
        return settings
    path = Path(policy.value_model)
    try:
        load_model(path)
    except ModelFileError as error:
        raise ConfigError(f"invalid configuration: policy value_model: {error}") from None
    return settings.model_copy(update={"clv_model": path})
