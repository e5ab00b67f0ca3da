// The stack canvas: nodes open their slide-out (click, Enter or Space), Escape closes it and
// gives the focus back to the node; the stack picker; the PNG export drawn from the page's own
// SVG in a canvas element (no library, nothing from elsewhere).
(function () {
  "use strict";
  var opener = null;

  function panels() {
    return document.querySelectorAll(".slideout");
  }

  function close() {
    var wasOpen = false;
    panels().forEach(function (panel) {
      if (!panel.hidden) {
        panel.hidden = true;
        wasOpen = true;
      }
    });
    if (wasOpen && opener) {
      opener.focus();
    }
    opener = null;
  }

  function open(id, from) {
    var panel = document.getElementById(id);
    if (!panel) {
      return;
    }
    close();
    opener = from || null;
    panel.hidden = false;
    panel.focus();
  }

  document.querySelectorAll("#stack-canvas .node[data-panel]").forEach(function (node) {
    node.addEventListener("click", function () {
      open(node.getAttribute("data-panel"), node);
    });
    node.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open(node.getAttribute("data-panel"), node);
      }
    });
  });
  document.querySelectorAll(".slideout .close").forEach(function (button) {
    button.addEventListener("click", close);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      close();
    }
  });
  // a panel the server opened (after saving a setting): focus it, and return to its node; after
  // a refused save, the first error is scrolled into view and its form's first field focused
  panels().forEach(function (panel) {
    if (!panel.hidden) {
      opener = document.querySelector('#stack-canvas .node[data-panel="' + panel.id + '"]');
      var error = panel.querySelector(".errorlist");
      var block = error && error.parentElement;
      var field = block && block.querySelector("textarea, input:not([type=hidden]), select");
      if (field) {
        field.focus({ preventScroll: true });
      } else {
        panel.focus();
      }
      if (error) {
        error.scrollIntoView({ block: "center" });
      }
    }
  });

  var picker = document.getElementById("stack-picker");
  if (picker) {
    picker.addEventListener("change", function () {
      var template = picker.getAttribute("data-url-template");
      window.location.href = template.replace(/\/0\/$/, "/" + encodeURIComponent(picker.value) + "/");
    });
  }

  var png = document.getElementById("export-png");
  if (png) {
    png.addEventListener("click", function () {
      var svg = document.getElementById("stack-canvas");
      var copy = svg.cloneNode(true);
      copy.querySelectorAll("[tabindex]").forEach(function (el) {
        el.removeAttribute("tabindex");
      });
      var width = svg.width.baseVal.value;
      var height = svg.height.baseVal.value;
      var text = new XMLSerializer().serializeToString(copy);
      var image = new Image();
      image.onload = function () {
        var scale = 2;
        var canvas = document.createElement("canvas");
        canvas.width = Math.ceil(width * scale);
        canvas.height = Math.ceil(height * scale);
        var context = canvas.getContext("2d");
        context.fillStyle = "#ffffff";
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        canvas.toBlob(function (blob) {
          var link = document.createElement("a");
          link.href = URL.createObjectURL(blob);
          link.download = png.getAttribute("data-filename") || "stack.png";
          document.body.appendChild(link);
          link.click();
          link.remove();
          setTimeout(function () {
            URL.revokeObjectURL(link.href);
          }, 10000);
        }, "image/png");
      };
      image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
    });
  }
})();
