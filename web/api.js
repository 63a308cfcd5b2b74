import { describeApiError } from './messages.js'

/** An error answer of the API, with a message fit to show. */
export class ApiError extends Error {
  constructor(status, body) {
    super(describeApiError(status, body))
    this.status = status
    this.code = body?.error?.code
  }
}

/** The HTTP API on this page's own origin, authenticated with the token `getToken()` returns. */
export function createApi(getToken) {
  async function request(method, path, body) {
    let response
    try {
      response = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${getToken()}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch {
      throw new ApiError(0, { error: { code: 'SERVICE_UNAVAILABLE', message: 'network error' } })
    }
    const json = await response.json().catch(() => undefined)
    if (!response.ok) throw new ApiError(response.status, json)
    return json
  }
  return {
    presign: (input) => request('POST', '/files/presigned-upload', input),
    confirm: (fileId, fileSize) => request('POST', '/files/confirm-uploads', { file_id: fileId, file_size: fileSize }),
    getFile: (fileId) => request('GET', `/files/${encodeURIComponent(fileId)}`),
  }
}
