// node-oidc-provider configured like Tessera, for `make bench` (bench/token_path.py) only.
//
//   PORT=5601 node bench/peer/server.mjs
//
// One Node process on 127.0.0.1, storage in a Map in that process (MapAdapter below). Like Tessera: confidential
// clients with client_secret_basic; client_credentials; the code flow with refresh tokens
// rotated on every use (Tessera always rotates; the library's default would not rotate a
// confidential client's); ES256 JWT access tokens (RFC 9068) for one resource
// (resourceIndicators, accessTokenFormat 'jwt'); RS256 ID tokens; introspection.
// No login pages: the bench mints codes and refresh tokens through the library's own models
// at POST /__bench/mint (loopback only, this process only), as Tessera's are minted in its
// database, so both sides' /token does the whole redemption.
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 5601);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RESOURCE = process.env.BENCH_RESOURCE || 'https://api.bench.example/';
// node-oidc-provider 9 refuses to introspect JWT access tokens ("Structured JWT Tokens
// cannot be introspected via the introspection_endpoint"), so introspection is measured on
// an opaque access token for this second resource: the same stored-token lookup, without
// the signature check Tessera's introspection does.
const OPAQUE_RESOURCE = 'https://opaque.bench.example/';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const ACCOUNT = 'bench-customer';

function jwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

const configuration = {
  clients: [
    {
      client_id: 'bench-service',
      client_secret: 'bench-service-secret-0123456789abcdef',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api:read',
    },
    {
      client_id: 'bench-app',
      client_secret: 'bench-app-secret-0123456789abcdef0123',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
    },
  ],
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs1'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es1'),
    ],
  },
  scopes: ['openid', 'offline_access', 'api:read'],
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => (resource === OPAQUE_RESOURCE
        ? { scope: 'api:read', audience: OPAQUE_RESOURCE, accessTokenTTL: 600,
          accessTokenFormat: 'opaque' }
        : { scope: 'api:read', audience: RESOURCE, accessTokenTTL: 600,
          accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
  rotateRefreshToken: true,
  pkce: { required: () => false },
  ttl: {
    AccessToken: 600,
    ClientCredentials: 600,
    AuthorizationCode: 600,
    IdToken: 600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 24 * 3600,
    Interaction: 3600,
  },
};

// The library's quick-start memory adapter is an LRU of 1,000 entries: under load it evicts
// live grants, codes and refresh tokens. This one keeps everything until it expires (the
// peer's storage is thus a Map in its own process, cheaper than any database).
class MapAdapter {
  static store = new Map();

  constructor(name) {
    this.name = name;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    MapAdapter.store.set(this.key(id), { payload, expiresAt });
    if (payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const members = MapAdapter.store.get(grantKey) || { payload: new Set(), expiresAt };
      members.payload.add(this.key(id));
      MapAdapter.store.set(grantKey, members);
    }
    if (payload.uid) MapAdapter.store.set(`uid:${payload.uid}`, { payload: id, expiresAt });
    if (payload.userCode) {
      MapAdapter.store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt });
    }
  }

  get(key) {
    const entry = MapAdapter.store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      MapAdapter.store.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  async find(id) {
    return this.get(this.key(id));
  }

  async findByUid(uid) {
    const id = this.get(`uid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = this.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = this.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    MapAdapter.store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const members = this.get(`grant:${grantId}`);
    for (const key of members || []) MapAdapter.store.delete(key);
    MapAdapter.store.delete(`grant:${grantId}`);
  }
}
configuration.adapter = MapAdapter;

const provider = new Provider(ISSUER, configuration);
const handle = provider.callback();

// What Tessera's code and refresh-token rows carry: a customer, a login's auth time and acr,
// the scopes of the code flow, the resource.
// One grant per code or refresh token, as one login each would make.
async function mint(kind, count) {
  const client = await provider.Client.find('bench-app');
  const values = [];
  for (let i = 0; i < count; i += 1) {
    const grant = new provider.Grant({ accountId: ACCOUNT, clientId: 'bench-app' });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(RESOURCE, 'api:read');
    const grantId = await grant.save();
    const common = {
      accountId: ACCOUNT, grantId, acr: 'urn:tessera:acr:1', amr: ['pwd'],
      authTime: Math.floor(Date.now() / 1000), scope: 'openid offline_access api:read',
      resource: RESOURCE,
    };
    const token = kind === 'code'
      ? new provider.AuthorizationCode({ ...common, client, redirectUri: REDIRECT_URI })
      : new provider.RefreshToken({ ...common, client, gty: 'authorization_code', rotations: 0 });
    values.push(await token.save());
  }
  return values;
}

const server = createServer((req, res) => {
  if (req.url.startsWith('/__bench/mint')) {
    const url = new URL(req.url, ISSUER);
    mint(url.searchParams.get('kind'), Number(url.searchParams.get('count') || 1))
      .then((values) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(values));
      }, (error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error && error.stack));
      });
    return;
  }
  handle(req, res);
});
server.listen(PORT, '127.0.0.1', () => {
  console.log(`peer listening on ${ISSUER}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
