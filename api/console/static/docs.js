// The API reference: Swagger UI over /openapi.json. "Try it out" sends the API key the console keeps in this
// tab's sessionStorage (never a cookie or a URL), added to each request by the request interceptor.
"use strict";
(function () {
  const KEY = "profs.apiKey";
  const key = sessionStorage.getItem(KEY);
  const status = document.getElementById("docs-key");
  status.textContent = key
    ? "Try it out uses the API key you signed in with in the console."
    : "Sign in on the console to use Try it out with your API key.";
  globalThis.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
    displayRequestDuration: true,
    requestInterceptor(request) {
      const current = sessionStorage.getItem(KEY);
      const headers = request.headers || {};
      if (current && !headers.Authorization && !String(request.url).includes("/fire")) {
        headers.Authorization = `Bearer ${current}`;
      }
      request.headers = headers;
      return request;
    },
  });
})();
