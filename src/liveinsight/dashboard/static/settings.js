/* Settings page: copy a tracking snippet to the clipboard. */
(function () {
  'use strict';
  for (const button of document.querySelectorAll('[data-copy]')) {
    button.addEventListener('click', async () => {
      const area = document.getElementById(button.dataset.copy);
      area.select();
      try { await navigator.clipboard.writeText(area.value); } catch (e) { document.execCommand('copy'); }
      const text = button.textContent;
      button.textContent = 'Copied';
      setTimeout(() => { button.textContent = text; }, 1500);
    });
  }
})();
