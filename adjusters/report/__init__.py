"""Loss adjustment reports (公估报告) in Chinese and English: PDF, DOCX, XLSX, JSON, HTML.

model.py assembles a pure ReportData; view.py turns it into blocks in one
language; html.py/docx.py/xlsx.py lay them out; issue.py gathers a case's
inputs, verifies the evidence, versions and records the issued report.
"""
