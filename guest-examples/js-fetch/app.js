// A JavaScript task that tries to reach the network, built with
// componentize-js in its default form, which imports `wasi:http`: wpool
// links it and refuses every outgoing request, so `fetch` rejects inside
// the guest, which catches the error and returns it.

export async function attempt(url) {
  try {
    const response = await fetch(url);
    return `fetched ${url}: ${response.status}`;
  } catch (error) {
    return `fetch failed: ${error}`;
  }
}
