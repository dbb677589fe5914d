import { SharedJsonFile } from "../model/shared_json_file.ts";
import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { randomText } from "../model/random_text.ts";
import { hashPassword, verifyPassword } from "./password.ts";
import { type Scope, SCOPES } from "./scopes.ts";

/** An API token as the API shows it: never its secret, which is shown once when it is made. */
export interface TokenView {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** Who made a request: a token (with its scopes) or a login session (all scopes). */
export type Credential =
  | { kind: "token"; id: string; name: string; scopes: Scope[] }
  | { kind: "session"; id: string; scopes: Scope[] };

const scopeSchema = z.enum(SCOPES as [Scope, ...Scope[]]);
const dataSchema = z.object({
  version: z.literal(1),
  admin: z.object({ hash: z.string() }).nullable(),
  tokens: z.array(z.object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(scopeSchema),
    hash: z.string(),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    last_used_at: z.string().nullable(),
  })),
  sessions: z.array(z.object({
    id: z.string(),
    hash: z.string(),
    created_at: z.string(),
    expires_at: z.string(),
  })),
});
type Data = z.infer<typeof dataSchema>;

/** How long a login lasts without being used. */
const SESSION_DAYS = 30;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function sameHash(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The admin password (as a scrypt hash), login sessions and API tokens, in one file readable by the
 * service's user only. Secrets are kept as hashes: a copy of the file logs nobody in. A token is
 * `ytdl_<id>_<secret>`; a session cookie `<id>.<secret>`. The nodes of a cluster share the file
 * (DATA_DIR is shared): each change is made under a lock on the file as it is on disk, and a node
 * reads it again whenever it changed (one stat per check), so a token made or revoked on one node
 * counts on every node at once.
 */
export class AuthStore {
  readonly #file: SharedJsonFile<Data>;
  readonly #now: () => number;
  #data: Data = emptyData();
  #lastUseSaved = new Map<string, number>();

  private constructor(path: string, now: () => number) {
    this.#file = new SharedJsonFile(path, (value) => {
      const parsed = dataSchema.safeParse(value);
      return parsed.success ? parsed.data : null;
    });
    this.#now = now;
  }

  /** Loads the file; a missing one is an empty store, a damaged one an error naming it. */
  static async open(path: string, now: () => number = Date.now): Promise<AuthStore> {
    const store = new AuthStore(path, now);
    try {
      store.#data = (await store.#file.read()) ?? emptyData();
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      throw new Error(`${path} is not a valid auth file; move it away to reset logins`);
    }
    return store;
  }

  hasPassword(): boolean {
    this.#reload();
    return this.#data.admin !== null;
  }

  /** Stores the admin password's hash (a no-op when it already matches). */
  async setPassword(password: string): Promise<void> {
    this.#reload();
    if (this.#data.admin && await verifyPassword(password, this.#data.admin.hash)) return;
    const hash = await hashPassword(password);
    await this.#change((data) => {
      data.admin = { hash };
      // A new password ends every login made with the old one.
      data.sessions = [];
    });
  }

  async verifyPassword(password: string): Promise<boolean> {
    this.#reload();
    return this.#data.admin !== null && await verifyPassword(password, this.#data.admin.hash);
  }

  /** Starts a login session; returns the cookie value and when it expires. */
  async createSession(): Promise<{ value: string; expires: Date }> {
    const id = randomText(9);
    const secret = randomText(32);
    const expires = new Date(this.#now() + SESSION_DAYS * 86400_000);
    await this.#change((data) => {
      data.sessions = data.sessions.filter((s) => Date.parse(s.expires_at) > this.#now());
      data.sessions.push({
        id,
        hash: sha256(secret),
        created_at: new Date(this.#now()).toISOString(),
        expires_at: expires.toISOString(),
      });
    });
    return { value: `${id}.${secret}`, expires };
  }

  /** The session a cookie value stands for, if it is current. */
  session(value: string): Credential | null {
    const [id, secret] = value.split(".");
    this.#reload();
    const session = this.#data.sessions.find((s) => s.id === id);
    if (!session || !secret || !sameHash(sha256(secret), session.hash)) return null;
    if (Date.parse(session.expires_at) <= this.#now()) return null;
    return { kind: "session", id, scopes: [...SCOPES] };
  }

  async deleteSession(value: string): Promise<void> {
    const [id] = value.split(".");
    await this.#change((data) => {
      data.sessions = data.sessions.filter((s) => s.id !== id);
    });
  }

  /** Makes an API token; the returned `token` is its only appearance in clear. */
  async createToken(
    name: string,
    scopes: Scope[],
    expiresAt: Date | null,
  ): Promise<{ token: string; view: TokenView }> {
    const id = randomText(9).replace(/[-_]/g, "x");
    const secret = randomText(32);
    const record = {
      id,
      name,
      scopes: [...new Set(scopes)],
      hash: sha256(secret),
      created_at: new Date(this.#now()).toISOString(),
      expires_at: expiresAt?.toISOString() ?? null,
      last_used_at: null,
    };
    await this.#change((data) => {
      data.tokens.push({ ...record, scopes: [...record.scopes] });
    });
    return { token: `ytdl_${id}_${secret}`, view: this.#view(record) };
  }

  tokens(): TokenView[] {
    this.#reload();
    return this.#data.tokens.map((t) => this.#view(t));
  }

  /** The token a bearer value stands for, if current; notes when it was last used. */
  token(value: string): Credential | null {
    const match = value.match(/^ytdl_([A-Za-z0-9]+)_([\w-]+)$/);
    if (!match) return null;
    this.#reload();
    const record = this.#data.tokens.find((t) => t.id === match[1]);
    if (!record || !sameHash(sha256(match[2]), record.hash)) return null;
    if (record.expires_at !== null && Date.parse(record.expires_at) <= this.#now()) return null;
    const usedAt = new Date(this.#now()).toISOString();
    record.last_used_at = usedAt;
    // Saved at most once a minute per token: a busy script must not turn into a write per request.
    if (this.#now() - (this.#lastUseSaved.get(record.id) ?? -Infinity) > 60_000) {
      this.#lastUseSaved.set(record.id, this.#now());
      const id = record.id;
      this.#change((data) => {
        const stored = data.tokens.find((t) => t.id === id);
        if (stored) stored.last_used_at = usedAt;
      }).catch(() => {});
    }
    return { kind: "token", id: record.id, name: record.name, scopes: record.scopes };
  }

  /** Revokes a token; false when there is none with that id. */
  async revokeToken(id: string): Promise<boolean> {
    let found = false;
    await this.#change((data) => {
      const before = data.tokens.length;
      data.tokens = data.tokens.filter((t) => t.id !== id);
      found = data.tokens.length !== before;
    });
    return found;
  }

  #view(record: Data["tokens"][number]): TokenView {
    const { hash: _hash, ...view } = record;
    return { ...view, scopes: [...view.scopes] };
  }

  /** Takes in what another node changed, if anything. */
  #reload(): void {
    this.#data = this.#file.changed() ?? this.#data;
  }

  /** Changes the file as it is on disk now (another node may have changed it); ours follows. */
  async #change(change: (data: Data) => void): Promise<void> {
    this.#data = await this.#file.update(() => this.#data, change, true);
  }
}

function emptyData(): Data {
  return { version: 1, admin: null, tokens: [], sessions: [] };
}
