# 100,000 documents of one request each (2.4 MB): read up to the cap and no further.
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "---\nkind: App\nmetadata: {name: r%d}\n", i }' > requests/app/many.yaml
