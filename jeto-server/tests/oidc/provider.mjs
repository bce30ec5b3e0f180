// A real OpenID provider on loopback for jeto's sign-in tests: the npm registry's
// `oidc-provider` (pinned in package.json), with its development login pages, one client (jeto)
// and a fresh RSA signing key at every start. Prints one line, `{"issuer": "..."}`, once it
// listens; stops when its stdin closes (the test ended, even by a crash).
//
// Environment: REDIRECT (jeto's /auth/callback), CLIENT_SECRET, and GROUPS, a JSON object
// mapping a login to the groups the provider says it is in (`{"ann": ["devs"]}`).
// Any login signs in with any password; its e-mail address is `<login>@example.test`.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const redirect = process.env.REDIRECT;
if (!redirect) throw new Error('set REDIRECT to jeto\'s /auth/callback');
const groups = JSON.parse(process.env.GROUPS || '{}');

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handler(req, res));
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'jeto',
      client_secret: process.env.CLIENT_SECRET || 'jeto-test-secret',
      redirect_uris: [redirect],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] },
    pkce: { methods: ['S256'], required: () => true },
    // The claims of the scopes asked for go into the ID token itself.
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({
        sub: id,
        name: id,
        email: `${id}@example.test`,
        email_verified: true,
        groups: groups[id] || [],
      }),
    }),
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['jeto-test-cookie-key'] },
  });
  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
