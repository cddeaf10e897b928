// Who may use the console: no one anonymously. `flotilla console` asks the
// manager (Control.ConsoleLogin) for a one-time login link; redeeming it gives
// the browser a session cookie, and the session a CSRF token that every write
// must carry. Tokens and session ids are 256 random bits, kept here only as
// their SHA-256 (a lookup by hash takes the same time whatever the guess), in
// memory: a restarted daemon forgets them, and the operator asks for a new link.
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';

/** A login link is good once, for this long (Jupyter's and Grafana's one-time links last minutes). */
export const LOGIN_TTL_MS = 5 * 60_000;
/** A session lasts this long from login (no sliding renewal: ask for a new link). */
export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** Outstanding links and live sessions kept at most; the oldest go first. */
export const MAX_LOGINS = 256;
export const MAX_SESSIONS = 256;

export interface Session {
  /** The cookie's value is the id; kept only hashed. */
  readonly csrfToken: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface AuthOptions {
  now?: () => number;
  randomBytes?: (n: number) => Buffer;
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex');

export class ConsoleAuth {
  private readonly logins = new Map<string, number>(); // hash(token) -> expires at
  private readonly sessions = new Map<string, Session>(); // hash(session id) -> session
  private readonly now: () => number;
  private readonly random: (n: number) => Buffer;

  constructor(o: AuthOptions = {}) {
    this.now = o.now ?? Date.now;
    this.random = o.randomBytes ?? nodeRandomBytes;
  }

  private token(): string {
    return this.random(32).toString('base64url');
  }

  /** A new one-time login token and when it expires. */
  mintLogin(): { token: string; expiresAt: number } {
    this.sweep();
    const token = this.token();
    const expiresAt = this.now() + LOGIN_TTL_MS;
    this.logins.set(hash(token), expiresAt);
    while (this.logins.size > MAX_LOGINS) this.logins.delete(this.logins.keys().next().value as string);
    return { token, expiresAt };
  }

  /**
   * Spend a login token: a new session (its id for the cookie), or why not.
   * A token works once, whatever happens next.
   */
  redeem(token: string): { sessionId: string; session: Session } | { refused: string } {
    const key = hash(token);
    const expiresAt = this.logins.get(key);
    this.logins.delete(key);
    if (expiresAt === undefined) return { refused: 'this login link is unknown or was used already' };
    const now = this.now();
    if (now >= expiresAt) return { refused: 'this login link has expired' };
    const sessionId = this.token();
    const session: Session = { csrfToken: this.token(), createdAt: now, expiresAt: now + SESSION_TTL_MS };
    this.sessions.set(hash(sessionId), session);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
    return { sessionId, session };
  }

  /** The live session with this id, if any. */
  session(sessionId: string | undefined): Session | undefined {
    if (!sessionId) return undefined;
    const key = hash(sessionId);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (this.now() >= s.expiresAt) {
      this.sessions.delete(key);
      return undefined;
    }
    return s;
  }

  /** Ends a session (logout). */
  end(sessionId: string | undefined): void {
    if (sessionId) this.sessions.delete(hash(sessionId));
  }

  /** Whether `presented` is the session's CSRF token (compared by hash, in constant time for the length). */
  csrfOk(session: Session, presented: string | undefined): boolean {
    return presented !== undefined && hash(presented) === hash(session.csrfToken);
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, exp] of this.logins) if (now >= exp) this.logins.delete(k);
    for (const [k, s] of this.sessions) if (now >= s.expiresAt) this.sessions.delete(k);
  }
}
