echo "Script executed" > %PREFIX%/script-executed.txt
