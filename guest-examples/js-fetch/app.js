// A JavaScript task that tries to reach the network, built with
// componentize-js in its default form, which imports `wasi:http`: wpool
// links it and refuses every outgoing request. `fetch` rejects with
// StarlingMonkey's NetworkError, which hides the reason; a request sent
// through `wasi:http` itself ends with the error code the host gave.
// wit/deps holds the WASI 0.2.12 WIT (as jco ships it).

import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { Fields, OutgoingRequest } from 'wasi:http/types@0.2.12';

export async function attempt(url) {
  try {
    const response = await fetch(url);
    return `fetched ${url}: ${response.status}`;
  } catch (error) {
    return `fetch failed: ${error}`;
  }
}

export function send(authority) {
  const request = new OutgoingRequest(new Fields());
  request.setScheme({ tag: 'HTTP' });
  request.setAuthority(authority);
  request.setPathWithQuery('/');
  let future;
  try {
    future = handle(request, undefined);
  } catch (error) {
    return `refused at once: ${error.payload.tag}`;
  }
  future.subscribe().block();
  // option<result<result<incoming-response, error-code>>>: ready now.
  const outcome = future.get();
  if (outcome.tag === 'err') {
    return 'the response was already taken';
  }
  const response = outcome.val;
  if (response.tag === 'err') {
    return `refused: ${response.val.tag}`;
  }
  return `status ${response.val.status()}`;
}
