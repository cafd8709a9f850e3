"""What people read: emails and letters rendered from ``templates/``, the letters' PDF, the language catalogue.

- ``render``: a document's context rendered with Jinja2 (strict templates, per locale), money and dates in words;
- ``markup``: the letter markup (a small HTML subset) read into blocks;
- ``pdf``: the blocks set as a one-page A4 PDF with a CJK font;
- ``i18n``: the company-locale texts from one gettext catalogue (``locales/``);
- ``last_contact``: the last contact restated, for the customer (day and channel) or for our own people (whole);
- ``escaping``: text from customers and users escaped for Markdown, HTML, CSV and XLSX.
"""
