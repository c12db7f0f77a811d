"""`hrbot doctor`: is this Feishu tenant ready for the bot? One line per check, in the order an operator meets them in
the developer console, each ✘ with the fix in the console's words.

It never sends a message to a person and never makes a billed provider call: scopes are proven by the probes the
features declare (bot/lifecycle/manifest.py), provider keys by presence and format only. Live-mode start-up runs the same
checks once in the background (`warn_at_startup`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from bot.clock import Clock
from bot.config import Settings, SettingsModel, load_settings
from bot.feishu.client import CredentialsRefused, FeishuClient, FeishuError, FeishuUnreachable
from bot.feishu.tenant_errors import BOT_CAPABILITY_OFF, BOT_NOT_IN_CHAT, admin_fix, missing_scope
from bot.ingress.crypto import encrypt
from bot.ingress.longconn import ENDPOINT_PATH
from bot.lifecycle.features import Feature, build_catalogue, build_dispatcher
from bot.lifecycle.permissions import ScopeGroup, manifests, scope_groups
from bot.lifecycle.services import Services
from bot.state.migrations import alembic_config
from bot.state.store import Store, sync_url

log = logging.getLogger("hrbot.doctor")

OK, FAIL, NOT_APPLICABLE = "ok", "fail", "n/a"
MARKS = {OK: "✔", FAIL: "✘", NOT_APPLICABLE: "–"}
# The bot's activate_status (获取机器人信息): 2 is 租户启用.
ACTIVE = 2
INACTIVE_FIXES = {
    0: "publish a version: 开发者后台 → 版本管理与发布 → 创建版本, then 申请线上发布 (the tenant admin approves it)",
    1: "the tenant admin stopped the app: 管理后台 → 工作台 → 应用管理 → enable it",
    3: "the app is installed but not enabled: ask the tenant admin to enable it in 管理后台 → 工作台 → 应用管理",
    4: "the new version waits for approval: ask the tenant admin to approve it (管理后台 → 工作台 → 应用审核)",
    5: "the app's licence expired: the tenant admin renews it",
    6: "the tenant's plan no longer covers the app: the tenant admin upgrades it",
}
# The long-connection endpoint's answers (lark-oapi's ws/const.py; 1000040345 as operators report it).
LONGCONN_FIXES = {
    1: "Feishu is busy: run the doctor again in a minute",
    403: "the request was refused: check FEISHU_BASE_URL",
    514: "Feishu refused FEISHU_APP_ID / FEISHU_APP_SECRET for the long connection",
    1000040343: "Feishu had an internal error: run the doctor again in a minute",
    1000040344: "FEISHU_APP_ID / FEISHU_APP_SECRET are missing",
    1000040345: "events are not set to the long connection: 开发者后台 → 事件与回调 → 事件配置 → 订阅方式 → "
    "使用长连接接收事件 (and 回调配置 → 使用长连接接收回调), then publish a version",
    1000040350: "the app already holds 50 long connections (every replica, staging included): stop some",
}
# The endpoint call may be slow (the sandbox's first one loads lark-oapi's protobuf module); the socket is quick.
ENDPOINT_TIMEOUT = aiohttp.ClientTimeout(total=30)
# Where each provider setting comes from (deploy/README.md, "Provider keys").
KEY_SOURCES = {
    "JUHE_SOCIAL_SECURITY_KEY": "聚合数据 个人中心 → 我的数据, above 企业社保缴纳查询",
    "JUHE_MICRO_ENT_KEY": "聚合数据 个人中心 → 我的数据, above 小微企业-详情数据",
    "JUHE_FOUR_FACTORS_KEY": "聚合数据 个人中心 → 我的数据, above 企业四要素核验",
    "TCREDIT_APP_ID": "天创's contract (appId)",
    "TCREDIT_TOKEN_ID": "天创's contract (tokenId)",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    @property
    def line(self) -> str:
        return f"{MARKS[self.status]} {self.name}: {self.detail}"


def passed(checks: Sequence[Check]) -> bool:
    return all(check.status != FAIL for check in checks)


def render(checks: Sequence[Check]) -> str:
    return "\n".join(check.line for check in checks)


def as_json(checks: Sequence[Check]) -> str:
    return json.dumps(
        {"ok": passed(checks), "checks": [asdict(check) for check in checks]}, ensure_ascii=False, indent=2
    )


@dataclass
class Target:
    """What the doctor examines: the settings (live, or pointed at a sandbox), the ingress mode, the features."""

    settings: Settings
    features: Sequence[Feature]
    mode: str = "webhook"
    public_url: str = ""
    env_file: str | None = ".env"
    overrides: Mapping[str, Any] | None = None
    defaults: Mapping[str, Any] | None = None
    # Start-up leaves out the ingress unless HRBOT_PUBLIC_URL is set (a long connection reports on /readyz itself).
    ingress: bool = True

    def load(self, model: type[SettingsModel]) -> SettingsModel:
        return load_settings(model, env_file=self.env_file, overrides=self.overrides, defaults=self.defaults)


async def diagnose(target: Target) -> list[Check]:
    """Every check, in the order the console shows the settings they need."""
    settings = target.settings
    clock = Clock()
    feishu = FeishuClient(
        base_url=settings.feishu_base_url,
        app_id=settings.feishu_app_id,
        app_secret=settings.feishu_app_secret,
        clock=clock,
        rate_limit_budget=5.0,
    )
    store = Store(settings.hrbot_database_url, clock)
    services = Services(
        settings=settings,
        clock=clock,
        store=store,
        feishu=feishu,
        load_settings=target.load,  # type: ignore[arg-type]
        catalogue=build_catalogue(target.features, build_dispatcher(target.features)),
    )
    checks: list[Check] = []
    try:
        credentials = await _credentials(feishu)
        checks.append(credentials)
        if credentials.status == OK:
            checks.extend(await _bot(feishu))
            scopes = [await _scope(group, services) for group in scope_groups(target.features)]
            checks.extend(scope for scope in scopes if scope is not None)
            checks.append(await _contacts(services))
            checks.extend(await _chats(services, target.features))
        else:
            checks.append(Check("Feishu", NOT_APPLICABLE, "not checked: the credentials come first"))
        if target.ingress:
            checks.append(await _ingress(target))
        checks.append(await _database(target))
        checks.append(await _redis(settings))
        checks.extend(_provider_keys(target, services))
    finally:
        await feishu.aclose()
        await store.dispose()
    return checks


# 1. Credentials and the bot ------------------------------------------------------------------------------------------
async def _credentials(feishu: FeishuClient) -> Check:
    name = "credentials (凭证与基础信息)"
    try:
        await feishu.tenant_token()
    except CredentialsRefused as exc:
        which = "FEISHU_APP_ID" if exc.code == 10003 else "FEISHU_APP_SECRET"
        return Check(
            name,
            FAIL,
            f"Feishu refused {which} (code {exc.code}: {exc.msg}): copy the App ID and App Secret from "
            "开发者后台 → 凭证与基础信息",
        )
    except (FeishuError, FeishuUnreachable) as exc:
        return Check(name, FAIL, f"cannot get a tenant token from FEISHU_BASE_URL ({exc})")
    return Check(name, OK, "a tenant token was issued for FEISHU_APP_ID")


async def _bot(feishu: FeishuClient) -> list[Check]:
    capability, version = "bot capability (应用能力 → 机器人)", "published version (版本管理与发布)"
    try:
        info = await feishu.bot_info()
    except FeishuError as exc:
        fix = admin_fix(exc) or f"Feishu answered code {exc.code}: {exc.msg}"
        return [Check(capability, FAIL, fix), Check(version, NOT_APPLICABLE, "needs the bot capability")]
    bot = f"bot {info.get('app_name', '')!r} ({info.get('open_id', '')})"
    status = info.get("activate_status")
    if status == ACTIVE:
        return [Check(capability, OK, bot), Check(version, OK, "a version is published and enabled")]
    fix = INACTIVE_FIXES.get(status if isinstance(status, int) else -1, f"activate_status {status}")
    return [Check(capability, OK, bot), Check(version, FAIL, fix)]


# 2. Scopes, contacts range, chats -------------------------------------------------------------------------------------
async def _scope(group: ScopeGroup, services: Services) -> Check | None:
    probes = group.probes
    if not probes:
        return None  # an event's scope: nothing can probe it (the permission table says so)
    name = f"scope {group.label}"
    used_by = "; ".join(dict.fromkeys(need.need for need in group.needs))
    for probe in probes:
        try:
            asked = await probe(services)
        except FeishuError as exc:
            scope = missing_scope(exc)
            if scope is not None and scope.scopes and not set(scope.scopes) & set(group.any_of):
                # The probe's call needs another group's scope first (the name field needs the directory).
                return Check(name, NOT_APPLICABLE, f"needs {' or '.join(scope.scopes)}: see the scope above")
            if scope is not None:
                return Check(name, FAIL, f"not granted (needed for {used_by}): {scope.fix}")
            if exc.code == BOT_CAPABILITY_OFF:
                return Check(name, NOT_APPLICABLE, "needs the bot capability (above)")
            if exc.http_status is not None and exc.http_status >= 500:
                return Check(name, FAIL, f"Feishu answered code {exc.code}: {exc.msg}; run the doctor again")
            # Feishu checks the scope before anything else: any other refusal means it is granted (the chat or
            # the person it names is checked on its own line).
            return Check(name, OK, f"granted (Feishu then answered code {exc.code} about what was asked)")
        except FeishuUnreachable as exc:
            return Check(name, FAIL, f"Feishu did not answer ({exc})")
        if asked is not None:
            return Check(name, OK, f"granted ({asked})")
    return Check(name, NOT_APPLICABLE, f"nothing configured to ask about (needed for {used_by})")


async def _contacts(services: Services) -> Check:
    name = "contacts range (通讯录权限范围)"
    settings = services.settings
    people = {
        **{p: "HRBOT_ADMINS" for p in settings.admins},
        **{p: "HRBOT_MANAGERS" for p in settings.managers},
        **{p: "HRBOT_HR_OPEN_IDS" for p in settings.hr_open_ids},
    }
    if not people:
        return Check(name, NOT_APPLICABLE, "no HR, managers or admins configured by open_id")
    try:
        found = await services.feishu.users_by_open_ids(sorted(people))
    except FeishuError as exc:
        return Check(
            name, NOT_APPLICABLE, f"cannot read the directory (code {exc.code}): see the scope above"
        )
    hidden = [f"{p} ({people[p]})" for p in sorted(people) if p not in found]
    if hidden:
        return Check(
            name,
            FAIL,
            f"Feishu does not show {', '.join(hidden)}: widen 开发者后台 → 权限管理 → 数据权限 → 通讯录权限范围 "
            "to include them (全部成员 is simplest), then publish a version; or fix the open_id (this app's own, "
            "see `hrbot whoami`)",
        )
    return Check(name, OK, f"all {len(people)} configured HR, managers and admins can be named")


async def _chats(services: Services, features: Sequence[Feature]) -> list[Check]:
    wanted: dict[str, list[str]] = {}
    for manifest in manifests(features):
        if manifest.chats is None:
            continue
        try:
            named = await manifest.chats(services)
        except Exception as exc:  # a subscription list needs the database, checked on its own below
            log.debug("chats not listed: %s", exc)
            continue
        for label, chat_ids in named.items():
            for chat in chat_ids:
                wanted.setdefault(chat, [])
                if label not in wanted[chat]:
                    wanted[chat].append(label)
    checks = []
    for chat, labels in wanted.items():
        name = f"bot in chat {chat}"
        why = ", ".join(labels)
        try:
            await services.feishu.chat_member_ids(chat)
        except FeishuError as exc:
            if exc.code == BOT_NOT_IN_CHAT:
                fix = (
                    f"the bot is not a member ({why}): in that chat, 设置 → 群机器人 → 添加机器人, or fix the chat_id "
                    "(see `hrbot whoami`)"
                )
                checks.append(Check(name, FAIL, fix))
            elif missing_scope(exc) is not None:
                checks.append(
                    Check(name, NOT_APPLICABLE, f"cannot read chat members ({why}): see the scope above")
                )
            else:
                checks.append(Check(name, FAIL, f"Feishu answered code {exc.code}: {exc.msg} ({why})"))
            continue
        checks.append(Check(name, OK, f"a member ({why})"))
    return checks


# 3. Ingress ----------------------------------------------------------------------------------------------------------
async def _ingress(target: Target) -> Check:
    if target.mode == "ws":
        return await _long_connection(target.settings)
    return await _webhook(target)


async def _webhook(target: Target) -> Check:
    name = "request URL (事件与回调 → 事件配置)"
    settings = target.settings
    public = (target.public_url or settings.hrbot_public_url).rstrip("/")
    if not public:
        return Check(
            name,
            FAIL,
            "set HRBOT_PUBLIC_URL to the HTTPS address Feishu reaches the bot at (the request URL without "
            "/feishu/events), or run `hrbot doctor --mode ws` for the long connection",
        )
    url = f"{public}/feishu/events"
    challenge = secrets.token_urlsafe(12)
    body: dict[str, Any] = {
        "type": "url_verification",
        "challenge": challenge,
        "token": settings.feishu_verification_token,
    }
    if settings.feishu_encrypt_key:
        body = {"encrypt": encrypt(json.dumps(body), settings.feishu_encrypt_key)}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=10)) as response:
                status = response.status
                answer = await response.json(content_type=None) if status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Check(
            name,
            FAIL,
            f"{url} did not answer ({type(exc).__name__}): is the bot running and reachable there?",
        )
    if status == 200 and isinstance(answer, dict) and answer.get("challenge") == challenge:
        encrypted = " and FEISHU_ENCRYPT_KEY round-trips" if settings.feishu_encrypt_key else ""
        return Check(name, OK, f"{url} answered the url_verification challenge{encrypted}")
    if status == 400:
        fix = "the bot there cannot decrypt it: FEISHU_ENCRYPT_KEY differs from the bot's (加密策略 → Encrypt Key)"
    elif status == 401:
        fix = "the bot there refused the token: FEISHU_VERIFICATION_TOKEN differs (加密策略 → Verification Token)"
    elif status == 404:
        fix = "no webhook there: the bot runs with --mode ws, or HRBOT_PUBLIC_URL points elsewhere"
    else:
        fix = f"HTTP {status}"
    return Check(name, FAIL, f"{url}: {fix}")


async def _long_connection(settings: Settings) -> Check:
    name = "long connection (事件与回调 → 使用长连接接收事件)"
    endpoint = settings.feishu_base_url.rstrip("/") + ENDPOINT_PATH
    credentials = {"AppID": settings.feishu_app_id, "AppSecret": settings.feishu_app_secret}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                endpoint, json=credentials, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                answer = await response.json(content_type=None)
            code = answer.get("code") if isinstance(answer, dict) else response.status
            if code != 0:
                fix = LONGCONN_FIXES.get(code, f"the endpoint answered {code} {answer.get('msg', '')}")
                return Check(name, FAIL, f"code {code}: {fix}")
            url = str((answer.get("data") or {}).get("URL") or "")
            async with http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as socket:
                await socket.close()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return Check(
            name, FAIL, f"no connection ({type(exc).__name__}): outbound HTTPS to FEISHU_BASE_URL allowed?"
        )
    return Check(name, OK, "the endpoint gave a URL and a connection opened")


# 4. Storage, providers -----------------------------------------------------------------------------------------------
async def _database(target: Target) -> Check:
    name = "database (HRBOT_DATABASE_URL)"
    from bot.lifecycle.features import migration_locations

    url = target.settings.hrbot_database_url

    def revisions() -> tuple[set[str], set[str]]:
        config = alembic_config(url, migration_locations(target.features))
        heads = set(ScriptDirectory.from_config(config).get_heads())
        engine = create_engine(sync_url(url), poolclass=pool.NullPool)
        try:
            with engine.connect() as connection:
                current = set(MigrationContext.configure(connection).get_current_heads())
        finally:
            engine.dispose()
        return current, heads

    try:
        current, heads = await asyncio.to_thread(revisions)
    except Exception as exc:
        return Check(name, FAIL, f"cannot connect: {str(exc).splitlines()[0][:200]}")
    if current != heads:
        return Check(
            name,
            FAIL,
            f"reachable, schema at {', '.join(sorted(current)) or 'nothing'} (newest {', '.join(sorted(heads))}): "
            "`hrbot serve` migrates at start",
        )
    return Check(name, OK, "reachable, schema at the newest migration")


async def _redis(settings: Settings) -> Check:
    name = "redis (HRBOT_REDIS_URL)"
    if not settings.hrbot_redis_url:
        return Check(name, NOT_APPLICABLE, "not configured (optional)")
    from redis.asyncio import Redis

    client = Redis.from_url(settings.hrbot_redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.ping()
    except Exception as exc:
        return Check(name, FAIL, f"no answer: {str(exc).splitlines()[0][:200]}")
    finally:
        await client.aclose()
    return Check(name, OK, "answers")


def _provider_keys(target: Target, services: Services) -> list[Check]:
    checks = []
    seen: set[str] = set()
    for feature in target.features:
        keys = feature.manifest.provider_keys if feature.manifest is not None else ()
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            checks.append(_key(key, feature, services.settings_of))
    return checks


def _key(key: str, feature: Feature, settings_of: Callable[[Any], Any]) -> Check:
    name = f"provider key {key}"
    value = None
    for model in feature.settings:
        if key.lower() in model.model_fields:
            value = str(getattr(settings_of(model), key.lower()) or "")
    source = KEY_SOURCES.get(key, "the provider's console")
    if value is None:
        return Check(name, FAIL, f"{feature.name} declares {key} but reads no such setting")
    if not value:
        return Check(name, FAIL, f"empty: {feature.name} needs it; copy it from {source}")
    if value != value.strip() or any(c.isspace() or c in "\"'" for c in value) or len(value) < 8:
        return Check(name, FAIL, f"malformed (spaces, quotes or too short): copy it again from {source}")
    return Check(name, OK, f"set, for {feature.name}")


# Start-up ------------------------------------------------------------------------------------------------------------
async def warn_at_startup(target: Target, report: Callable[[str], None]) -> None:
    """Live start-up: the checks once, each ✘ one WARNING naming the fix; `report` gets the scope state for /readyz."""
    try:
        checks = await diagnose(target)
    except Exception:
        log.exception("the go-live checks could not run")
        report("not checked")
        return
    for check in checks:
        if check.status == FAIL:
            log.warning("go-live check failed: %s: %s", check.name, check.detail)
    missing = [
        c.name.removeprefix("scope ") for c in checks if c.name.startswith("scope ") and c.status == FAIL
    ]
    report("ok" if not missing else "missing: " + "; ".join(missing))
