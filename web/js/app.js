// The Imports page: upload and follow an import, and the import history.

import {linkWithToken} from "./api.js";
import {setupHistory} from "./history.js";
import {setupMapping} from "./mapping.js";
import {setupUpload} from "./upload.js";

const docs = document.getElementById("api-docs-link");
if (docs) linkWithToken(docs, "/openapi.json", "catalog-api-openapi.json");

const history = setupHistory();
let mapping = null;
const upload = setupUpload({
  started: (item) => {
    history.started(item);
    mapping?.hide();
  },
  updated: (item) => history.updated(item),
  ended: (item) => {
    history.ended(item);
    mapping?.show(item);
  },
  importOptions: () => mapping?.options() || {},
});
mapping = setupMapping(upload);

document.documentElement.dataset.ready = "true";
