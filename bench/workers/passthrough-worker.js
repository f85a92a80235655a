// The baseline: a Worker that does nothing but fetch the origin. Measured the same way as
// the gateway, it isolates what Tollgate itself costs from what the runtime costs.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new URL(url.pathname + url.search, env.UPSTREAM_URL), request);
  },
};
