"""What a run leaves behind: the terminal summary and the JSON report (``summary``), the HTML timeline (``html``)."""
