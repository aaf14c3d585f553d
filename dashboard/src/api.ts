// The public HTTPS API, on this page's own origin (the edge serves the dashboard).
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T = any>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { ...(init.body === undefined ? {} : { "content-type": "application/json" }), ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiError(0, "unavailable", "the edge did not answer; is the stack up?");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, body?.code ?? "error", `${message} (HTTP ${response.status})`);
  }
  return body as T;
}

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const text = q.toString();
  return text ? "?" + text : "";
}

export const enc = encodeURIComponent;
