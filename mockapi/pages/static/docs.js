// Starts Swagger UI on this server's OpenAPI document (served by mockapi/docs.py).
// A file, not an inline script: the page's Content-Security-Policy allows scripts of its own
// origin only.
window.addEventListener("load", function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    // Swagger UI would otherwise ask an online validator for a badge: no other host, ever.
    validatorUrl: null,
    // "Authorize" takes the whole header value, `JWT <token>`; keep it across reloads.
    persistAuthorization: true,
    displayRequestDuration: true,
  });
});
