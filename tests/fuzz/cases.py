"""What the fuzzer sends: hand-made hostile cases, and hypothesis strategies that draw many more.

Every case names its route (the template path, or `unknown` / `local`), and its kind:

- `forged`: credentials or signatures that are not genuine (a self-signed or expired JWT, `alg: none`,
  a JWT of another user, a Stripe signature under another secret or out of tolerance, an Apple JWS
  under a self-made chain, a Google token Google did not sign...). Must answer 4xx; never 2xx.
- `malformed`: genuine credentials (or none needed) with a body, path or header that is not acceptable
  (deep JSON, 5,000-digit numbers, wrong types, ids too long, control characters, bad base64, ...).
  Must answer 4xx.
- `probe`: a request that may well succeed (`/health`, a local read): must not be a 5xx.

No case may be answered 5xx; no forged case may store anything (the runner reads the table).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import strategies as st

from tests.support import apple
from tests.support import google as push
from tests.support import stripe as stripe_fixtures

FORGED, MALFORMED, PROBE = "forged", "malformed", "probe"

ENTITLEMENTS = "GET /v1/users/{userId}/entitlements"
RECEIPTS = "POST /v1/users/{userId}/receipts"
OWNER = "PUT /v1/admin/purchases/{purchaseId}/owner"
MERGE = "POST /v1/admin/users/{userId}/merge"
REPORT = "GET /v1/admin/users/{userId}"
STRIPE = "POST /webhooks/stripe"
APPLE = "POST /webhooks/apple"
GOOGLE = "POST /webhooks/google"
HEALTH = "GET /health"
CHANGES = "GET /_local/changes"
EVENTS = "GET /_local/events/{source}/{eventId}"
UNKNOWN = "unknown route or method"


@dataclass
class Case:
    route: str
    kind: str
    method: str
    path: str  # raw request target, sent as is
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    why: str = ""


# ------------------------------------------------------------------------------ hostile building blocks

DEEP_DEPTHS = (65, 200, 1_000, 5_000, 100_000)
HUGE_NUMBER = "9" * 5000


def deep_json(depth: int, opener: str = "[") -> str:
    closer = "]" if opener == "[" else "}"
    if opener == "{":
        return '{"a":' * depth + "1" + closer * depth
    return opener * depth + closer * depth


def b64url(data: bytes | str) -> str:
    data = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


HUGE_NUMBER_HEADER = b64url('{"alg": "RS256", "n": ' + HUGE_NUMBER + "}")
HUGE_NUMBER_PAYLOAD = b64url('{"signedDate": ' + HUGE_NUMBER + ', "exp": ' + HUGE_NUMBER + "}")

HOSTILE_JSON_TEXTS = [
    *(deep_json(depth) for depth in DEEP_DEPTHS),
    *(deep_json(depth, "{") for depth in (65, 1_000, 50_000)),
    HUGE_NUMBER,
    f'{{"n": {HUGE_NUMBER}}}',
    f'{{"n": -{HUGE_NUMBER}.5e{HUGE_NUMBER}}}',
    "1e999999",
    "NaN",
    '{"a": Infinity}',
    "",
    "{",
    "null",
    "[]",
    '"just a string"',
    "\ufeff{}",
    '{"a": "\\ud800"}',
    '{"a": 1, "a": 2}',
    "{" + ",".join(f'"k{i}": {i}' for i in range(20_000)) + "}",
]
HOSTILE_BYTES = [b"\xff\xfe\xfd", b"\x00" * 64, b"\xc3\x28", "é".encode("latin-1"), b"\x1b[31mred\x1b[0m"]

# User ids: the contract's rule is 1–256 printable ASCII characters without whitespace.
HOSTILE_USER_IDS = [
    "u" * 257,
    "u" * 2_000,
    "u" * 20_000,
    "has%20space",
    "%00",
    "nul%00byte",
    "%0d%0aSet-Cookie:%20x=1",
    "tab%09",
    "%7F",
    "%C3%A9",
    "%FF%FE",
    "%E2%80%AE",  # right-to-left override
    "%2F..%2F..%2Fetc%2Fpasswd",
    "..%2F..%2F",
    "%252e%252e",
    "%",
    "%zz",
]
HOSTILE_PURCHASE_IDS = ["x" * 3_000, "stripe:" + "s" * 5_000, "%00", "a%20b", "%FF", "app_store%3A" + "9" * 2_100]


def stripe_event_document(**changes) -> dict:
    document = {
        "id": f"evt_fz_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(time.time()),
        "data": {"object": {"id": "sub_fz", "object": "subscription", "status": "active"}},
        "livemode": False,
    }
    document.update(changes)
    return document


# Signed with the real secret, and still no event: each must be refused at the door (400), nothing stored.
MALFORMED_STRIPE_CHANGES = [
    {"data": []},
    {"data": "object"},
    {"data": None},
    {"data": {"object": []}},
    {"data": {"object": "sub_1"}},
    {"data": {"object": None}},
    {"data": {}},
    {"created": 10**20},
    {"created": -(10**20)},
    {"created": "1700000000"},
    {"created": True},
    {"created": 1.5},
    {"id": "evt_" + "x" * 3_000},
    {"id": "evt with space"},
    {"id": ""},
    {"id": 12},
    {"id": None},
    {"id": "evt_\u0000"},
    {"type": None},
    {"type": ["customer.subscription.updated"]},
    {"type": "t" * 5_000},
]


# --------------------------------------------------------------------------------------------- context


class Forgery:
    """Keys of our own, to forge what the stack must refuse (made once: RSA keys are slow to make)."""

    def __init__(self, idp) -> None:
        self.idp = idp
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.google_impostor = push.signing_key("fuzz-impostor")
        self.self_made_chain = apple.make_chain()  # a root the stack does not trust

    # -- app JWTs

    def genuine(self, sub: str, **claims) -> str:
        return self.idp.token(sub, **claims)

    def forged_app_tokens(self, sub: str) -> list[tuple[str, str]]:
        """(why, token) pairs the stack must refuse for `sub`'s routes (401, or 403 for another user)."""
        header = b64url(json.dumps({"alg": "RS256", "kid": self.idp.KID}))
        payload = b64url(json.dumps({"sub": sub, "iss": "https://auth.e2e.parity.test/", "aud": "parity-e2e-app", "exp": int(time.time()) + 600}))
        return [
            ("self-signed, known kid", self.idp.token(sub, key=self.rsa)),
            ("self-signed ES256, known kid", self.idp.token(sub, key=self.ec, algorithm="ES256", kid=self.idp.EC_KID)),
            ("unknown kid", self.idp.token(sub, kid="fuzz-unknown")),
            ("expired", self.idp.token(sub, exp=int(time.time()) - 3600)),
            ("not yet valid", self.idp.token(sub, nbf=int(time.time()) + 3600)),
            ("other issuer", self.idp.token(sub, iss="https://evil.example/")),
            ("other audience", self.idp.token(sub, aud="another-app")),
            ("no exp", self.idp.token(sub, exp=None)),
            ("alg none", f"{b64url(json.dumps({'alg': 'none', 'kid': self.idp.KID}))}.{payload}."),
            ("HS256", jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, "s" * 32, algorithm="HS256", headers={"kid": self.idp.KID})),
            ("bad signature", f"{header}.{payload}.{b64url(b'x' * 256)}"),
            ("another user's token", self.idp.token(sub + "_other" if len(sub) < 250 else "u_other")),
            ("deep header", f"{b64url(deep_json(5_000, '{'))}.{payload}.sig"),
            ("deep payload", f"{header}.{b64url(deep_json(5_000))}.sig"),
            ("huge number in header", f"{HUGE_NUMBER_HEADER}.{payload}.sig"),
            ("header not JSON", f"{b64url('not json')}.{payload}.sig"),
            ("header not base64", f"!!!.{payload}.sig"),
            ("two segments", f"{header}.{payload}"),
            ("empty", ""),
            ("garbage", "garbage"),
            ("huge token", "a" * 30_000),
        ]

    # -- Stripe

    def stripe_forgeries(self, body: bytes) -> list[tuple[str, str | None]]:
        now = int(time.time())
        good = stripe_fixtures.sign(body)
        return [
            ("another secret", stripe_fixtures.sign(body, "whsec_forged")),
            ("stale timestamp", stripe_fixtures.sign(body, timestamp=now - 3_600)),
            ("future timestamp", stripe_fixtures.sign(body, timestamp=now + 3_600)),
            ("huge timestamp", f"t={HUGE_NUMBER},v1=" + good.split("v1=")[1]),
            ("no v1", f"t={now}"),
            ("v0 only", f"t={now},v0={good.split('v1=')[1]}"),
            ("signature of another body", stripe_fixtures.sign(body + b" ")),
            ("missing", None),
            ("empty", ""),
            ("garbage", "garbage"),
            ("control characters", f"t={now},v1=\x1b[31m"),
            ("many v1", f"t={now}," + ",".join("v1=" + "0" * 64 for _ in range(2_000))),
        ]

    # -- Apple

    def apple_forgeries(self, signer: apple.AppleSigner) -> list[tuple[str, str]]:
        payload = signer.notification(transaction=signer.transaction())
        genuine = signer.sign(payload)
        return [
            ("self-made chain", apple.sign(payload, self.self_made_chain)),
            ("no OIDs", apple.sign(payload, apple.make_chain(leaf_oid=False, intermediate_oid=False))),
            ("impostor intermediate", apple.sign(payload, apple.make_chain(root=signer.chain, impostor_intermediate=True))),
            ("alg none", apple.forge_alg_none(payload, signer.chain)),
            ("HS256", apple.forge_hs256(payload, signer.chain)),
            ("tampered payload", apple.tamper_payload(genuine, bundleId="com.evil")),
            ("tampered signature", apple.tamper_signature(genuine)),
            ("no x5c", apple.sign_without_x5c(payload, signer.chain)),
            ("x5c not a list", apple.with_header(genuine, x5c="MIIB")),
            ("x5c numbers", apple.with_header(genuine, x5c=[1, 2, 3])),
            ("x5c bad base64", apple.with_header(genuine, x5c=["!!", "??", "**"])),
            ("x5c garbage DER", apple.with_header(genuine, x5c=[base64.b64encode(b"x" * 100).decode()] * 3)),
            ("x5c deep", apple.with_header(genuine, x5c=json.loads(deep_json(60)))),
            ("crit header", apple.with_header(genuine, crit=["exp"])),
            ("deep header", f"{b64url(deep_json(5_000, '{'))}.{genuine.split('.')[1]}.{genuine.split('.')[2]}"),
            ("deep payload", f"{genuine.split('.')[0]}.{b64url(deep_json(5_000))}.{genuine.split('.')[2]}"),
            ("huge number payload", f"{genuine.split('.')[0]}.{HUGE_NUMBER_PAYLOAD}.{genuine.split('.')[2]}"),
            ("payload bad base64", f"{genuine.split('.')[0]}.@@@.{genuine.split('.')[2]}"),
            ("wrong bundle, self-made chain", apple.sign({**payload, "data": {**payload["data"], "bundleId": "com.evil"}}, self.self_made_chain)),
        ]

    # -- Google

    def google_forgeries(self) -> list[tuple[str, str | None]]:
        return [
            ("impostor key, Google's kid", push.bearer(push.mint_token(self.google_impostor, kid=push.signing_key().kid))),
            ("impostor key and kid", push.bearer(push.mint_token(self.google_impostor))),
            ("wrong audience", push.bearer(push.mint_token(audience="https://evil.example/"))),
            ("wrong sender", push.bearer(push.mint_token(email="evil@evil.iam.gserviceaccount.com"))),
            ("email not verified", push.bearer(push.mint_token(email_verified=False))),
            ("wrong issuer", push.bearer(push.mint_token(issuer="https://evil.example"))),
            ("expired", push.bearer(push.mint_token(issued_at=int(time.time()) - 7_200))),
            ("alg none", push.bearer(push.unsigned_token())),
            ("HS256 with the certificate", push.bearer(push.hs256_token())),
            ("relabelled ES256", push.bearer(push.relabelled_token(push.mint_token(), alg="ES256"))),
            ("deep header", f"Bearer {b64url(deep_json(5_000, '{'))}.{b64url('{}')}.sig"),
            ("deep payload", f"Bearer {b64url(json.dumps({'alg': 'RS256', 'kid': push.signing_key().kid}))}.{b64url(deep_json(5_000))}.sig"),
            ("huge number payload", f"Bearer {b64url(json.dumps({'alg': 'RS256'}))}.{HUGE_NUMBER_PAYLOAD}.sig"),
            ("kid not a string", f"Bearer {b64url(json.dumps({'alg': 'RS256', 'kid': [1]}))}.{b64url('{}')}.sig"),
            ("bad base64", "Bearer !!!.???.***"),
            ("missing", None),
            ("not bearer", "Basic dXNlcjpwYXNz"),
            ("huge", "Bearer " + "a" * 20_000),
        ]

    def google_genuine(self) -> str:
        return push.bearer(push.mint_token())


# -------------------------------------------------------------------------------------------- requests


def json_headers(extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    return [("Content-Type", "application/json"), *(extra or [])]


def bearer(token: str | None) -> list[tuple[str, str]]:
    return [] if token is None else [("Authorization", f"Bearer {token}")]


# ------------------------------------------------------------------------------------ hypothesis strategies

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
hostile_texts = st.one_of(
    st.sampled_from(HOSTILE_JSON_TEXTS),
    st.builds(deep_json, st.integers(min_value=65, max_value=20_000), st.sampled_from("[{")),
    st.builds(lambda n: "1" * n, st.integers(min_value=65, max_value=6_000)),
    st.builds(lambda n: '{"id": "' + "x" * n + '"}', st.integers(min_value=2_000, max_value=20_000)),
)


@st.composite
def bodies(draw, shapes: list[dict] | None = None) -> bytes:
    """A request body: random JSON, hostile JSON text, raw bytes, or a known shape with a field broken."""
    choice = draw(st.integers(min_value=0, max_value=4 if shapes else 3))
    if choice == 0:
        return json.dumps(draw(json_values)).encode()
    if choice == 1:
        return draw(hostile_texts).encode("utf-8", "surrogatepass")
    if choice == 2:
        return draw(st.one_of(st.sampled_from(HOSTILE_BYTES), st.binary(max_size=64)))
    if choice == 3:
        return draw(st.text(max_size=80)).encode("utf-8", "surrogatepass")
    shape = dict(draw(st.sampled_from(shapes)))
    key = draw(st.sampled_from(sorted(shape)))
    shape[key] = draw(
        st.one_of(
            json_values,
            st.builds(lambda n: "x" * n, st.integers(min_value=257, max_value=6_000)),
            st.sampled_from([" spaced ", "\u0000", "\x1b[2J", "é" * 300, None, [], {}, 10**70]),
        )
    )
    if draw(st.booleans()):
        shape[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    return json.dumps(shape).encode()


hostile_user_ids = st.one_of(
    st.sampled_from(HOSTILE_USER_IDS),
    st.builds(lambda n: "u" * n, st.integers(min_value=257, max_value=9_000)),
    st.builds(
        lambda text: "".join(f"%{byte:02X}" for byte in text.encode("utf-8", "surrogatepass")),
        st.text(min_size=1, max_size=12).filter(lambda t: any(not ("!" <= c <= "~") for c in t)),
    ),
)


# ------------------------------------------------------------------------------------------ the cases


class Cases:
    """The hand-made cases and the hypothesis strategy of cases, for one target stack.

    `user` is the fuzzer's own user: genuine tokens are issued for it only, so whatever the table gains
    from authenticated requests is that user's (the runner checks it).
    """

    def __init__(self, target, user: str) -> None:
        self.target = target
        self.user = user
        self.forgery = Forgery(target.idp)
        self.token = self.forgery.genuine(user)
        self.admin = [("Authorization", f"Bearer {target.admin_token}")]
        self._app_forgeries = self.forgery.forged_app_tokens(user)
        self._apple_forgeries = self.forgery.apple_forgeries(target.apple_signer)
        self._google_forgeries = self.forgery.google_forgeries()
        self._google_genuine = self.forgery.google_genuine()

    # -- hand-made ------------------------------------------------------------------------------

    def hand_made(self) -> list[Case]:
        cases: list[Case] = []
        user, token = self.user, self.token
        app_routes = (("GET", ENTITLEMENTS, "entitlements"), ("POST", RECEIPTS, "receipts"))
        receipt = json.dumps({"store": "stripe", "checkoutSessionId": "cs_fz_unknown"}).encode()
        for method, route, tail in app_routes:
            body = receipt if method == "POST" else b""
            for why, forged in self._app_forgeries:
                cases.append(Case(route, FORGED, method, f"/v1/users/{user}/{tail}", json_headers(bearer(forged)), body, why))
            cases.append(Case(route, FORGED, method, f"/v1/users/{user}/{tail}", json_headers(), body, "no token"))
            cases.append(Case(route, FORGED, method, f"/v1/users/{user}/{tail}", self.admin, body, "admin token as a JWT"))
            for user_id in HOSTILE_USER_IDS:
                cases.append(Case(route, MALFORMED, method, f"/v1/users/{user_id}/{tail}", json_headers(bearer(token)), body, "user id"))
            for sub in ("s" * 2_000, "has space", "\u0000", "é"):
                cases.append(
                    Case(route, MALFORMED, method, f"/v1/users/{user}/{tail}", json_headers(bearer(self.forgery.genuine(sub))), body, "sub")
                )
        for text in HOSTILE_JSON_TEXTS:
            cases.append(Case(RECEIPTS, MALFORMED, "POST", f"/v1/users/{user}/receipts", json_headers(bearer(token)), text.encode("utf-8", "surrogatepass"), "json"))
        for field_name, value in (("signedTransaction", "x" * 5_000), ("transactionId", "9" * 5_000), ("purchaseToken", "t" * 5_000), ("checkoutSessionId", "cs_" + "x" * 5_000)):
            store = {"signedTransaction": "app_store", "transactionId": "app_store", "purchaseToken": "play_store", "checkoutSessionId": "stripe"}[field_name]
            shape = {"store": store, "packageName": push.PACKAGE, "productId": "p" * 5_000, field_name: value}
            cases.append(Case(RECEIPTS, MALFORMED, "POST", f"/v1/users/{user}/receipts", json_headers(bearer(token)), json.dumps(shape).encode(), "5 KB field"))
        for why, forged in self._apple_forgeries:
            body = json.dumps({"store": "app_store", "signedTransaction": forged}).encode()
            cases.append(Case(RECEIPTS, FORGED, "POST", f"/v1/users/{user}/receipts", json_headers(bearer(token)), body, f"apple {why}"))

        # admin routes
        admin_calls = [
            ("PUT", OWNER, "/v1/admin/purchases/stripe:sub_fz_none/owner", {"userId": user}),
            ("POST", MERGE, f"/v1/admin/users/{user}/merge", {"fromUserId": "fz_nobody"}),
            ("GET", REPORT, f"/v1/admin/users/{user}", None),
        ]
        for method, route, path, document in admin_calls:
            body = json.dumps(document).encode() if document else b""
            for why, headers in (
                ("no token", []),
                ("wrong token", [("Authorization", "Bearer nope")]),
                ("token prefix", [("Authorization", f"Bearer {self.target.admin_token[:-1]}")]),
                ("token + x", [("Authorization", f"Bearer {self.target.admin_token}x")]),
                ("basic", [("Authorization", f"Basic {self.target.admin_token}")]),
                ("app JWT", bearer(token)),
                ("huge", [("Authorization", "Bearer " + "a" * 30_000)]),
                ("control characters", [("Authorization", "Bearer \x1b[31m")]),
            ):
                cases.append(Case(route, FORGED, method, path, json_headers(headers), body, why))
            if document is not None:
                for text in HOSTILE_JSON_TEXTS:
                    cases.append(Case(route, MALFORMED, method, path, json_headers(self.admin), text.encode("utf-8", "surrogatepass"), "json"))
                key = next(iter(document))
                for user_id in ("u" * 300, "has space", "\u0000", "", 12, None, ["a"], "é", "u" * 5_000):
                    cases.append(Case(route, MALFORMED, method, path, json_headers(self.admin), json.dumps({key: user_id}).encode(), "body user id"))
        for user_id in HOSTILE_USER_IDS:
            cases.append(Case(REPORT, MALFORMED, "GET", f"/v1/admin/users/{user_id}", self.admin, b"", "user id"))
            cases.append(Case(MERGE, MALFORMED, "POST", f"/v1/admin/users/{user_id}/merge", json_headers(self.admin), b'{"fromUserId": "fz_nobody"}', "user id"))
        for purchase_id in HOSTILE_PURCHASE_IDS:
            cases.append(Case(OWNER, MALFORMED, "PUT", f"/v1/admin/purchases/{purchase_id}/owner", json_headers(self.admin), json.dumps({"userId": user}).encode(), "purchase id"))

        # Stripe
        for changes in MALFORMED_STRIPE_CHANGES:
            body = json.dumps(stripe_event_document(**changes)).encode()
            cases.append(Case(STRIPE, MALFORMED, "POST", "/webhooks/stripe", json_headers([("Stripe-Signature", stripe_fixtures.sign(body))]), body, f"signed, {sorted(changes)}"))
        for text in HOSTILE_JSON_TEXTS:
            body = text.encode("utf-8", "surrogatepass")
            cases.append(Case(STRIPE, MALFORMED, "POST", "/webhooks/stripe", json_headers([("Stripe-Signature", stripe_fixtures.sign(body))]), body, "signed json"))
        genuine_event = json.dumps(stripe_event_document()).encode()
        for why, signature in self.forgery.stripe_forgeries(genuine_event):
            headers = [] if signature is None else [("Stripe-Signature", signature)]
            cases.append(Case(STRIPE, FORGED, "POST", "/webhooks/stripe", json_headers(headers), genuine_event, why))

        # Apple
        for why, forged in self._apple_forgeries:
            cases.append(Case(APPLE, FORGED, "POST", "/webhooks/apple", json_headers(), json.dumps({"signedPayload": forged}).encode(), why))
        for text in HOSTILE_JSON_TEXTS:
            cases.append(Case(APPLE, MALFORMED, "POST", "/webhooks/apple", json_headers(), text.encode("utf-8", "surrogatepass"), "json"))
        for value in (None, 1, [], {}, "", "a.b.c", "a.b", "...", "x" * 100_000, deep_json(100)):
            cases.append(Case(APPLE, MALFORMED, "POST", "/webhooks/apple", json_headers(), json.dumps({"signedPayload": value}).encode(), "signedPayload"))

        # Google
        notification = push.subscription_notification(push.purchase_token())
        envelope = push.push_body(notification)
        for why, authorization in self._google_forgeries:
            headers = [] if authorization is None else [("Authorization", authorization)]
            cases.append(Case(GOOGLE, FORGED, "POST", "/webhooks/google", json_headers(headers), envelope, why))
        genuine = [("Authorization", self._google_genuine)]
        for text in HOSTILE_JSON_TEXTS:
            cases.append(Case(GOOGLE, MALFORMED, "POST", "/webhooks/google", json_headers(genuine), text.encode("utf-8", "surrogatepass"), "json"))
            cases.append(Case(GOOGLE, MALFORMED, "POST", "/webhooks/google", json_headers(genuine), push.push_body(text.encode("utf-8", "surrogatepass")), "data json"))
        for data in ("!!!", "a", "====", "YQ", "-_+/"):
            body = json.dumps({"message": {"messageId": "1", "data": data}}).encode()
            cases.append(Case(GOOGLE, MALFORMED, "POST", "/webhooks/google", json_headers(genuine), body, "bad base64"))
        for broken in (
            {**notification, "eventTimeMillis": "9" * 30},
            {**notification, "eventTimeMillis": 10**25},
            {**notification, "packageName": "com.other"},
            {**notification, "packageName": "p" * 5_000},
            {**notification, "subscriptionNotification": {"notificationType": 4, "purchaseToken": "t" * 5_000}},
            {**notification, "subscriptionNotification": []},
        ):
            cases.append(Case(GOOGLE, MALFORMED, "POST", "/webhooks/google", json_headers(genuine), push.push_body(broken), "notification"))
        cases.append(Case(GOOGLE, MALFORMED, "POST", "/webhooks/google", json_headers(genuine), push.push_body(notification, message_id="m" * 5_000), "message id"))

        # the stack's own routes, unknown routes, wrong methods, HTTP itself
        cases.append(Case(HEALTH, PROBE, "GET", "/health"))
        cases.append(Case(CHANGES, PROBE, "GET", "/_local/changes"))
        for source, event_id in (("stripe", "evt_none"), ("stripe", "e" * 5_000), ("%00", "x"), ("s" * 3_000, "x"), ("stripe", "%FF"), ("stripe", "a%20b")):
            cases.append(Case(EVENTS, PROBE, "GET", f"/_local/events/{source}/{event_id}"))
        for method, path in (
            ("DELETE", "/health"), ("POST", f"/v1/users/{user}/entitlements"), ("GET", "/webhooks/stripe"),
            ("PATCH", "/v1/admin/users/x"), ("HEAD", "/health"), ("OPTIONS", "/webhooks/apple"),
            ("GET", "/"), ("GET", "/../../etc/passwd"), ("GET", "/v1/users//entitlements"), ("GET", "/%00"),
            ("GET", "/v1/users/" + "u" * 60_000 + "/entitlements"), ("BREW", "/health"), ("GET", "/_demo/token"),
            ("POST", "/_demo/token"), ("GET", "/.well-known/jwks.json"),
        ):  # fmt: skip
            cases.append(Case(UNKNOWN, PROBE, method, path, bearer(token)))
        return cases

    # -- hypothesis -----------------------------------------------------------------------------

    def strategy(self) -> st.SearchStrategy[Case]:
        return st.one_of(
            self._app_route(),
            self._admin_route(),
            self._stripe(),
            self._apple(),
            self._google(),
            self._local(),
        )

    def _app_route(self) -> st.SearchStrategy[Case]:
        receipt_shapes = [
            {"store": "app_store", "signedTransaction": "a.b.c"},
            {"store": "app_store", "transactionId": "2000000000000001"},
            {"store": "play_store", "packageName": push.PACKAGE, "productId": "pro_monthly", "purchaseToken": "tok"},
            {"store": "stripe", "checkoutSessionId": "cs_fz_unknown"},
        ]

        @st.composite
        def draw_case(draw) -> Case:
            method, route, tail = draw(st.sampled_from([("GET", ENTITLEMENTS, "entitlements"), ("POST", RECEIPTS, "receipts")]))
            body = draw(bodies(receipt_shapes)) if method == "POST" else b""
            if draw(st.booleans()):  # forged credentials on a well-formed path
                why, token = draw(st.sampled_from(self._app_forgeries))
                return Case(route, FORGED, method, f"/v1/users/{self.user}/{tail}", json_headers(bearer(token)), body, why)
            user_id = draw(st.one_of(st.just(self.user), hostile_user_ids))
            if user_id == self.user and method == "GET":
                query = draw(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40))
                return Case(route, PROBE, method, f"/v1/users/{user_id}/{tail}?{query}", bearer(self.token), b"", "read")
            return Case(route, MALFORMED, method, f"/v1/users/{user_id}/{tail}", json_headers(bearer(self.token)), body, "body or path")

        return draw_case()

    def _admin_route(self) -> st.SearchStrategy[Case]:
        @st.composite
        def draw_case(draw) -> Case:
            method, route = draw(st.sampled_from([("PUT", OWNER), ("POST", MERGE), ("GET", REPORT)]))
            forged = draw(st.booleans())
            headers = (
                [("Authorization", draw(st.one_of(st.just(f"Bearer {self.token}"), st.text(max_size=60).map(lambda t: "Bearer " + t.replace("\r", "").replace("\n", "")))))]
                if forged
                else self.admin
            )
            if route == OWNER:
                purchase = draw(st.one_of(st.just("stripe:sub_fz_none"), st.sampled_from(HOSTILE_PURCHASE_IDS), st.text(min_size=1, max_size=30).map(lambda t: "".join(f"%{b:02X}" for b in t.encode("utf-8", "surrogatepass")))))
                path, shapes = f"/v1/admin/purchases/{purchase}/owner", [{"userId": self.user, "reason": "fuzz"}]
            elif route == MERGE:
                target = draw(st.one_of(st.just(self.user), hostile_user_ids))
                path, shapes = f"/v1/admin/users/{target}/merge", [{"fromUserId": "fz_nobody", "reason": "fuzz"}]
            else:
                target = draw(st.one_of(st.just("fz_nobody"), hostile_user_ids))
                path, shapes = f"/v1/admin/users/{target}", None
            body = draw(bodies(shapes)) if shapes else b""
            if forged:
                return Case(route, FORGED, method, path, json_headers(headers), body, "admin token")
            kind = PROBE if route == REPORT and not body else MALFORMED
            return Case(route, kind, method, path, json_headers(headers), body, "admin body or path")

        return draw_case()

    def _stripe(self) -> st.SearchStrategy[Case]:
        @st.composite
        def draw_case(draw) -> Case:
            if draw(st.booleans()):
                body = json.dumps(stripe_event_document(**draw(st.sampled_from(MALFORMED_STRIPE_CHANGES)))).encode()
                body = draw(st.one_of(st.just(body), bodies()))
                return Case(STRIPE, MALFORMED, "POST", "/webhooks/stripe", json_headers([("Stripe-Signature", stripe_fixtures.sign(body))]), body, "signed")
            body = draw(st.one_of(st.just(json.dumps(stripe_event_document()).encode()), bodies()))
            why, signature = draw(st.sampled_from(self.forgery.stripe_forgeries(body)))
            headers = [] if signature is None else [("Stripe-Signature", signature)]
            return Case(STRIPE, FORGED, "POST", "/webhooks/stripe", json_headers(headers), body, why)

        return draw_case()

    def _apple(self) -> st.SearchStrategy[Case]:
        @st.composite
        def draw_case(draw) -> Case:
            if draw(st.booleans()):
                why, forged = draw(st.sampled_from(self._apple_forgeries))
                return Case(APPLE, FORGED, "POST", "/webhooks/apple", json_headers(), json.dumps({"signedPayload": forged}).encode(), why)
            body = draw(bodies([{"signedPayload": "a.b.c"}]))
            return Case(APPLE, MALFORMED, "POST", "/webhooks/apple", json_headers(), body, "body")

        return draw_case()

    def _google(self) -> st.SearchStrategy[Case]:
        @st.composite
        def draw_case(draw) -> Case:
            if draw(st.booleans()):
                why, authorization = draw(st.sampled_from(self._google_forgeries))
                headers = [] if authorization is None else [("Authorization", authorization)]
                envelope = push.push_body(push.subscription_notification(push.purchase_token()))
                return Case(GOOGLE, FORGED, "POST", "/webhooks/google", json_headers(headers), envelope, why)
            genuine = [("Authorization", self._google_genuine)]
            if draw(st.booleans()):
                data = draw(st.one_of(hostile_texts, st.text(max_size=40), json_values.map(json.dumps)))
                return Case(GOOGLE, MALFORMED, "POST", "/webhooks/google", json_headers(genuine), push.push_body(data.encode("utf-8", "surrogatepass")), "data")
            body = draw(bodies([{"message": {"messageId": "1", "data": "e30="}, "subscription": "s"}]))
            return Case(GOOGLE, MALFORMED, "POST", "/webhooks/google", json_headers(genuine), body, "envelope")

        return draw_case()

    def _local(self) -> st.SearchStrategy[Case]:
        segment = st.text(min_size=1, max_size=20).map(lambda t: "".join(f"%{b:02X}" for b in t.encode("utf-8", "surrogatepass")))

        @st.composite
        def draw_case(draw) -> Case:
            choice = draw(st.integers(min_value=0, max_value=3))
            if choice == 0:
                return Case(EVENTS, PROBE, "GET", f"/_local/events/{draw(segment)}/{draw(segment)}")
            if choice == 1:
                return Case(HEALTH, PROBE, "GET", "/health?" + draw(segment))
            method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
            path = "/" + "/".join(draw(st.lists(segment, min_size=1, max_size=5)))
            return Case(UNKNOWN, PROBE, method, path, bearer(self.token), draw(bodies()) if method != "GET" else b"")

        return draw_case()
