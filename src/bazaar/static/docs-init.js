// Starts Swagger UI on /docs. Kept out of the HTML because the Content-Security-Policy
// allows scripts from this origin only ('self'), not inline ones.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No calls to the public validator service: the docs must work offline.
    validatorUrl: null,
  });
});
